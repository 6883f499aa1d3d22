-- A table (incremental by billing period, dbt_project.yml): the tag normalization and the mart both read it.
-- Every source mapped to FOCUS 1.2: AWS CUR (three layouts) and FOCUS exports, one column list.
with

aws as (
    select * from {{ ref('int_aws_cur_charges_mapped_to_focus') }}
    where {{ billing_period_filter('x_billing_period') }}
),
focus_exports as (
    select * from {{ ref('int_focus_charges_upgraded') }}
    where {{ billing_period_filter('x_billing_period') }}
),

unioned as (
    select * from focus_exports
    union all by name
    select *, cast(null as varchar) as x_source_extras from aws
)

select * from unioned
