-- Every source mapped to FOCUS 1.2: AWS CUR (three layouts) and FOCUS exports, one column list.
-- A view: the tag normalization reads five of its columns and the FOCUS mart all of them, each for the billing
-- periods it rebuilds; a table would be one more full copy of every charge to write on each build.
with

aws as (select * from {{ ref('int_aws_cur_charges_mapped_to_focus') }}),
focus_exports as (select * from {{ ref('int_focus_charges_upgraded') }}),

unioned as (
    select * from focus_exports
    union all by name
    select *, cast(null as varchar) as x_source_extras from aws
)

select * from unioned
