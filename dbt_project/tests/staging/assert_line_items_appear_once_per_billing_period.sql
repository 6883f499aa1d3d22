-- A line item loaded twice (the same file delivered under two names, a month exported twice) doubles its cost
-- while every test per file still passes. Returns one row per line item that appears more than once within a
-- billing period, with how many times and in which files.
--
-- AWS CUR, the three layouts together: the line item's own identity, identity/LineItemId with
-- identity/TimeInterval (a line item id repeats over the hours or days of its usage). Both bundled samples are
-- unique on the pair and not on the id alone: the legacy CSV has 1,281 rows, 388 ids and 1,281 pairs; the Athena
-- parquet 119,307 rows, 1,384 ids and 119,307 pairs in October 2018 and 124,340 rows, 1,560 ids and 124,340
-- pairs in November; generated CUR 2.0 months are unique on it too. A row without an id falls back to the
-- fingerprint of its content.
-- FOCUS defines no row id: a row is its content, every column (extra columns included) but the lineage of the
-- load (file, checksum, row number, load time), fingerprinted.
with

cur_line_items as (

    select
        'aws_cur' as source_family,
        billing_period,
        coalesce(
            'line item ' || line_item_id || ' at ' || coalesce(time_interval, ''),
            'content ' || {{ row_fingerprint(['source_family', 'source_file', 'file_checksum', 'source_row', 'ingested_at']) }}
        ) as line_item_key,
        source_file
    from {{ ref('int_aws_cur_line_items_unioned') }}

),

focus_charges as (

    select
        'focus' as source_family,
        billing_period,
        'content ' || {{ row_fingerprint(['source_file', 'file_checksum', 'source_row', 'ingested_at']) }}
            as line_item_key,
        source_file
    from {{ ref('stg_focus__charges') }}

),

line_items as (

    select * from cur_line_items
    union all
    select * from focus_charges

),

final as (

    select
        source_family,
        billing_period,
        line_item_key,
        count(*) as occurrences,
        {{ distinct_values_list('source_file') }} as source_files
    from line_items
    group by source_family, billing_period, line_item_key
    having count(*) > 1

)

select * from final
