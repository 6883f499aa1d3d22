{#
    The DuckDB functions the FOCUS models rely on, in one place, so that another warehouse needs new
    implementations here rather than edits across models.
#}

{# A TIMESTAMP holding UTC wall time, as TIMESTAMP WITH TIME ZONE. #}
{% macro utc_timestamptz(column) -%}
    timezone('UTC', {{ column }})
{%- endmacro %}

{# A MAP(VARCHAR, VARCHAR) as a JSON object (NULL for an empty or NULL map). #}
{% macro string_map_to_json(column) -%}
    cast(case when cardinality({{ column }}) > 0 then to_json({{ column }}) end as json)
{%- endmacro %}

{# JSON object text (a FOCUS Tags value) as MAP(VARCHAR, VARCHAR); NULL when it is not a flat object. #}
{% macro json_to_string_map(column) -%}
    try_cast(try_cast({{ column }} as json) as map(varchar, varchar))
{%- endmacro %}

{# Key/value pairs of a map, one row each: use in a select list as two columns. #}
{% macro unnest_map(column, key_name, value_name) -%}
    unnest(map_keys({{ column }})) as {{ key_name }},
    unnest(map_values({{ column }})) as {{ value_name }}
{%- endmacro %}

{# Build a MAP(VARCHAR, VARCHAR) from aggregated key/value rows, ordered by key. #}
{% macro aggregate_string_map(key_column, value_column) -%}
    map_from_entries(list(struct_pack(k := {{ key_column }}, v := {{ value_column }}) order by {{ key_column }}))
{%- endmacro %}
