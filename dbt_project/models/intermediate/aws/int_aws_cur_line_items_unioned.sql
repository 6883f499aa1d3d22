-- The three AWS CUR layouts (legacy CSV, legacy Athena parquet, CUR 2.0) share one staging column list.
with

legacy_csv as (select * from {{ ref('stg_aws_cur_legacy__line_items') }}),
legacy_athena as (select * from {{ ref('stg_aws_cur_athena__line_items') }}),
cur2 as (select * from {{ ref('stg_aws_cur2__line_items') }}),

unioned as (
    select * from legacy_csv
    union all by name
    select * from legacy_athena
    union all by name
    select * from cur2
)

select * from unioned
