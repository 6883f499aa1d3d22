-- The three AWS CUR layouts (legacy CSV, legacy Athena parquet, CUR 2.0) share one staging column list.
with

legacy_csv as (select * from {{ ref('stg_aws_cur_legacy__line_items') }}),
legacy_athena as (select * from {{ ref('stg_aws_cur_athena__line_items') }}),
cur2 as (select * from {{ ref('stg_aws_cur2__line_items') }}),

unioned as (
    {{- union_all_by_name([
        ('legacy_csv', ref('stg_aws_cur_legacy__line_items'), {}),
        ('legacy_athena', ref('stg_aws_cur_athena__line_items'), {}),
        ('cur2', ref('stg_aws_cur2__line_items'), {}),
    ]) }}
)

select * from unioned
