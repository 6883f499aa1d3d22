-- The three CUR staging models are unioned downstream, so they must return the same columns, in the
-- same order, with the same types. Returns one row per model, with its column signature, when they
-- differ. The columns are read from the warehouse's catalog (adapter.get_columns_in_relation, on any engine).
{%- set models = [
    ref('stg_aws_cur_legacy__line_items'),
    ref('stg_aws_cur_athena__line_items'),
    ref('stg_aws_cur2__line_items'),
] %}

with

signatures as (

    {% for relation in models %}
    {%- set columns = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do columns.append(column.name ~ ' ' ~ column.data_type) -%}
        {%- endfor -%}
    {%- endif %}
    select
        {{ quote_literal(relation.identifier) }} as model_name,
        {{ quote_literal(columns | join(', ')) }} as column_signature,
        {{ columns | length }} as column_count
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select model_name, column_signature from signatures
    where
        (select count(distinct column_signature) from signatures) > 1
        or (select min(column_count) from signatures) = 0

)

select * from final
