-- Checks the unique_combination_of_columns generic test on a fixture: of the three combinations,
-- only ('a', 1) is duplicated, so the test must report exactly that one, with its two rows.
with

fixture as (

    select * from (
        values
            ('a', 1),
            ('a', 1),
            ('a', 2),
            ('b', 1)
    ) as rows (source_file, source_row)

),

found as (

    {{ test_unique_combination_of_columns('fixture', ['source_file', 'source_row']) }}

),

expected as (

    select
        'a' as source_file,
        1 as source_row,
        2 as row_count

),

final as (

    (select * from found except select * from expected)
    union all
    (select * from expected except select * from found)

)

select * from final
