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

{#
    JSON object text (a FOCUS Tags value) as MAP(VARCHAR, VARCHAR): string values as they are, other values as
    JSON text, null as NULL. A key written twice keeps its first value (a cast to MAP would fail the whole query
    on it). NULL when the text is not a JSON object.
#}
{% macro json_to_string_map(column) -%}
    case when json_type(try_cast({{ column }} as json)) = 'OBJECT' then
        map_from_entries(list_filter(
            list_zip(json_keys(try_cast({{ column }} as json)), json_extract_string(try_cast({{ column }} as json), '$.*')),
            (entry, position) -> list_position(json_keys(try_cast({{ column }} as json)), entry[1]) = position
        ))
    end
{%- endmacro %}

{# Text as JSON; NULL when it is not valid JSON. #}
{% macro try_json(column) -%}
    try_cast({{ column }} as json)
{%- endmacro %}

{#
    Key/value pairs of a map, one row each: use in a select list as two columns, or three with position_name
    (the pair's place in the map, from 1). The names are the model's own column names, not data.
#}
{% macro unnest_map(column, key_name, value_name, position_name=none) -%}
    unnest(map_keys({{ column }})) as {{ key_name }},
    unnest(map_values({{ column }})) as {{ value_name }}
    {%- if position_name %},
    unnest(range(1, cast(cardinality({{ column }}) as bigint) + 1)) as {{ position_name }}
    {%- endif %}
{%- endmacro %}

{#
    Build a MAP(VARCHAR, VARCHAR) from aggregated key/value rows (an aggregate), ordered by key or by
    order_column (unique within a group); only the rows where the SQL condition `where` holds, when one is given.
#}
{% macro aggregate_string_map(key_column, value_column, order_column=none, where=none) -%}
    map_from_entries({{ ordered_list(
        'struct_pack(k := ' ~ key_column ~ ', v := ' ~ value_column ~ ')', order_column or key_column, where) }})
{%- endmacro %}

{#
    list(expression order by order_column), an aggregate, as a list sorted after aggregating: DuckDB's ordered
    aggregates sort each group in its own buffer, which made them most of the tag normalization's time; sorting
    the small list of each group is several times faster. order_column must be unique within a group (a key or
    a position). Only the rows where `where` holds, when given; NULL when none does, as list() gives.
#}
{% macro ordered_list(expression, order_column, where=none) -%}
    list_transform(
        list_sort(list(struct_pack(o := {{ order_column }}, e := {{ expression }})){% if where %} filter (where {{ where }}){% endif %}),
        x -> x.e
    )
{%- endmacro %}

{#
    A fingerprint of a row's content: the MD5 of the JSON object of every column of the relation in scope but
    the excluded ones (a list of column names written in the model, not data).
#}
{% macro row_fingerprint(exclude) -%}
    md5(cast(to_json(struct_pack(*columns(* exclude ({{ exclude | join(', ') }})))) as varchar))
{%- endmacro %}
