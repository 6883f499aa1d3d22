-- The three CUR staging models are unioned downstream, so they must return the same columns, in the
-- same order, with the same types. Returns one row per model, with its column signature, when they
-- differ.
{%- set models = [
    ref('stg_aws_cur_legacy__line_items'),
    ref('stg_aws_cur_athena__line_items'),
    ref('stg_aws_cur2__line_items'),
] %}

with

model_columns as (

    {% for relation in models %}
    select
        {{ quote_literal(relation.identifier) }} as model_name,
        ordinal_position,
        column_name,
        data_type
    from information_schema.columns
    where
        table_catalog = {{ quote_literal(relation.database) }}
        and table_schema = {{ quote_literal(relation.schema) }}
        and table_name = {{ quote_literal(relation.identifier) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

signatures as (

    select
        model_name,
        string_agg(column_name || ' ' || data_type, ', ' order by ordinal_position) as column_signature
    from model_columns
    group by model_name

),

final as (

    select * from signatures
    where
        (select count(distinct column_signature) from signatures) > 1
        or (select count(*) from signatures) <> {{ models | length }}

)

select * from final
