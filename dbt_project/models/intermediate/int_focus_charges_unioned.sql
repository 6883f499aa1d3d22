-- Every source mapped to FOCUS 1.2: AWS CUR (three layouts) and FOCUS exports, one column list.
with

aws as (select * from {{ ref('int_aws_cur_charges_mapped_to_focus') }}),
focus_exports as (select * from {{ ref('int_focus_charges_upgraded') }}),

unioned as (
    select * exclude (x_source_extras) from focus_exports
    union all by name
    select * from aws
),

with_extras as (
    select unioned.*, focus_exports.x_source_extras
    from unioned
    left join focus_exports
        on unioned.x_source_family = 'focus'
        and unioned.x_source_file = focus_exports.x_source_file
        and unioned.x_source_row = focus_exports.x_source_row
)

select * from with_extras
