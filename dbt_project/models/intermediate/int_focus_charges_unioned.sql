-- Every source mapped to FOCUS 1.2: AWS CUR (three layouts) and FOCUS exports, one column list.
-- A view: the tag normalization reads five of its columns and the FOCUS mart all of them, each for the billing
-- periods it rebuilds; a table would be one more full copy of every charge to write on each build.
with

aws as (select * from {{ ref('int_aws_cur_charges_mapped_to_focus') }}),
focus_exports as (select * from {{ ref('int_focus_charges_upgraded') }}),

unioned as (
    {{- union_all_by_name([
        ('focus_exports', ref('int_focus_charges_upgraded'), {}),
        ('aws', ref('int_aws_cur_charges_mapped_to_focus'), {'x_source_extras': 'cast(null as string)'}),
    ]) }}
)

select * from unioned
