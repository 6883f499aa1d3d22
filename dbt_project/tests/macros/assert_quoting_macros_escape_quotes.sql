-- Checks quote_identifier and quote_literal on a name and a value that are SQL: each must come back as exactly
-- the name or the string it is, character for character. Were a quote left unescaped, this query would not
-- parse, or would run the SQL. Returns a row per macro that fails.
{%- set name = 'x"; DROP TABLE raw.focus; --' %}
{%- set value = "it's'); DROP TABLE raw.focus; --" %}
with

columns_described as (

    {{ described_column_names('select ' ~ quote_literal(value) ~ ' as ' ~ quote_identifier(name)) }}

),

literal_value as (

    select {{ quote_literal(value) }} as value

),

final as (

    select 'quote_identifier' as macro_name
    from columns_described
    where length(column_name) <> {{ name | length }} or column_name <> {{ quote_literal(name) }}

    union all

    select 'quote_literal' as macro_name
    from literal_value
    where length(value) <> {{ value | length }} or position(chr(39) || ');' in value) <> 5

)

select * from final
