{#
    The engine-specific functions the FOCUS models rely on, in one place: each macro dispatches
    (adapter.dispatch) to its DuckDB implementation (default__) or its Spark one (spark__), so the models read
    the same on both engines.
#}

{# A TIMESTAMP holding UTC wall time, as TIMESTAMP WITH TIME ZONE (Spark's TIMESTAMP is one already). #}
{% macro utc_timestamptz(column) -%}
    {{ adapter.dispatch('utc_timestamptz', 'tfm')(column) }}
{%- endmacro %}

{% macro default__utc_timestamptz(column) -%}
    timezone('UTC', {{ column }})
{%- endmacro %}

{% macro spark__utc_timestamptz(column) -%}
    cast({{ column }} as timestamp)
{%- endmacro %}

{# The JSON type: DuckDB's JSON, text on Spark (which has none). #}
{% macro json_type() -%}
    {{ adapter.dispatch('json_type', 'tfm')() }}
{%- endmacro %}

{% macro default__json_type() -%}
    json
{%- endmacro %}

{% macro spark__json_type() -%}
    string
{%- endmacro %}

{# The type of a map from text to text. #}
{% macro string_map_type() -%}
    {{ adapter.dispatch('string_map_type', 'tfm')() }}
{%- endmacro %}

{% macro default__string_map_type() -%}
    map(varchar, varchar)
{%- endmacro %}

{% macro spark__string_map_type() -%}
    map<string, string>
{%- endmacro %}

{# The type of a map from text to DECIMAL(38, 18). #}
{% macro default__decimal_map_type() -%}
    map(varchar, decimal(38, 18))
{%- endmacro %}

{% macro spark__decimal_map_type() -%}
    map<string, decimal(38, 18)>
{%- endmacro %}

{# A MAP(VARCHAR, VARCHAR) as a JSON object (NULL for an empty or NULL map). #}
{% macro string_map_to_json(column) -%}
    {{ adapter.dispatch('string_map_to_json', 'tfm')(column) }}
{%- endmacro %}

{% macro default__string_map_to_json(column) -%}
    cast(case when cardinality({{ column }}) > 0 then to_json({{ column }}) end as json)
{%- endmacro %}

{% macro spark__string_map_to_json(column) -%}
    case when cardinality({{ column }}) > 0 then to_json({{ column }}) end
{%- endmacro %}

{#
    JSON object text (a FOCUS Tags value) as MAP(VARCHAR, VARCHAR): string values as they are, other values as
    JSON text, null as NULL. A key written twice keeps its first value (a cast to MAP would fail the whole query
    on it). NULL when the text is not a JSON object.
#}
{% macro json_to_string_map(column) -%}
    {{ adapter.dispatch('json_to_string_map', 'tfm')(column) }}
{%- endmacro %}

{% macro default__json_to_string_map(column) -%}
    case when json_type(try_cast({{ column }} as json)) = 'OBJECT' then
        map_from_entries(list_filter(
            list_zip(json_keys(try_cast({{ column }} as json)), json_extract_string(try_cast({{ column }} as json), '$.*')),
            (entry, position) -> list_position(json_keys(try_cast({{ column }} as json)), entry[1]) = position
        ))
    end
{%- endmacro %}

{#
    Spark: from_json gives a JSON object's values as text and NULL for other JSON; a repeated key keeps its last
    value (the session's spark.sql.mapKeyDedupPolicy, LAST_WIN in profiles.yml), not its first.
#}
{% macro spark__json_to_string_map(column) -%}
    from_json({{ column }}, 'map<string, string>')
{%- endmacro %}

{# Text as JSON; NULL when it is not valid JSON. #}
{% macro try_json(column) -%}
    {{ adapter.dispatch('try_json', 'tfm')(column) }}
{%- endmacro %}

{% macro default__try_json(column) -%}
    try_cast({{ column }} as json)
{%- endmacro %}

{% macro spark__try_json(column) -%}
    case when try_parse_json({{ column }}) is not null then {{ column }} end
{%- endmacro %}

{#
    Key/value pairs of a map, one row each: use in a select list as two columns, or three with position_name
    (the pair's place in the map, from 1). The names are the model's own column names, not data.
#}
{% macro unnest_map(column, key_name, value_name, position_name=none) -%}
    {{ adapter.dispatch('unnest_map', 'tfm')(column, key_name, value_name, position_name) }}
{%- endmacro %}

{% macro default__unnest_map(column, key_name, value_name, position_name=none) -%}
    unnest(map_keys({{ column }})) as {{ key_name }},
    unnest(map_values({{ column }})) as {{ value_name }}
    {%- if position_name %},
    unnest(range(1, cast(cardinality({{ column }}) as bigint) + 1)) as {{ position_name }}
    {%- endif %}
{%- endmacro %}

{% macro spark__unnest_map(column, key_name, value_name, position_name=none) -%}
    {%- if position_name -%}
    inline(arrays_zip(
        map_keys({{ column }}), map_values({{ column }}), transform(map_keys({{ column }}), (key, i) -> i + 1)
    )) as ({{ key_name }}, {{ value_name }}, {{ position_name }})
    {%- else -%}
    explode({{ column }}) as ({{ key_name }}, {{ value_name }})
    {%- endif -%}
{%- endmacro %}

{#
    Build a MAP(VARCHAR, VARCHAR) from aggregated key/value rows (an aggregate), ordered by key or by
    order_column (unique within a group); only the rows where the SQL condition `where` holds, when one is given.
#}
{% macro aggregate_string_map(key_column, value_column, order_column=none, where=none) -%}
    {{ adapter.dispatch('aggregate_string_map', 'tfm')(key_column, value_column, order_column, where) }}
{%- endmacro %}

{% macro default__aggregate_string_map(key_column, value_column, order_column=none, where=none) -%}
    map_from_entries({{ ordered_list(
        'struct_pack(k := ' ~ key_column ~ ', v := ' ~ value_column ~ ')', order_column or key_column, where) }})
{%- endmacro %}

{% macro spark__aggregate_string_map(key_column, value_column, order_column=none, where=none) -%}
    map_from_entries({{ ordered_list(
        'named_struct(\'k\', ' ~ key_column ~ ', \'v\', ' ~ value_column ~ ')', order_column or key_column, where) }})
{%- endmacro %}

{#
    list(expression order by order_column), an aggregate, as a list sorted after aggregating: DuckDB's ordered
    aggregates sort each group in its own buffer, which made them most of the tag normalization's time; sorting
    the small list of each group is several times faster. order_column must be unique within a group (a key or
    a position). Only the rows where `where` holds, when given; NULL when none does, as list() gives.
#}
{% macro ordered_list(expression, order_column, where=none) -%}
    {{ adapter.dispatch('ordered_list', 'tfm')(expression, order_column, where) }}
{%- endmacro %}

{% macro default__ordered_list(expression, order_column, where=none) -%}
    list_transform(
        list_sort(list(struct_pack(o := {{ order_column }}, e := {{ expression }})){% if where %} filter (where {{ where }}){% endif %}),
        x -> x.e
    )
{%- endmacro %}

{% macro spark__ordered_list(expression, order_column, where=none) -%}
    case when count(*){% if where %} filter (where {{ where }}){% endif %} > 0 then transform(
        array_sort(collect_list(named_struct('o', {{ order_column }}, 'e', {{ expression }})){% if where %} filter (where {{ where }}){% endif %}),
        x -> x.e
    ) end
{%- endmacro %}

{#
    A fingerprint of a row's content: the MD5 of the JSON object of every column of the relation in scope but
    the excluded ones (a list of column names written in the model, not data).
#}
{% macro row_fingerprint(exclude) -%}
    {{ adapter.dispatch('row_fingerprint', 'tfm')(exclude) }}
{%- endmacro %}

{% macro default__row_fingerprint(exclude) -%}
    md5(cast(to_json(struct_pack(*columns(* exclude ({{ exclude | join(', ') }})))) as varchar))
{%- endmacro %}

{% macro spark__row_fingerprint(exclude) -%}
    md5(to_json(struct(* except ({{ exclude | join(', ') }}))))
{%- endmacro %}

{# True when the text matches the regular expression as a whole / somewhere. #}
{% macro regexp_full_match(text, pattern) -%}
    {{ adapter.dispatch('regexp_full_match', 'tfm')(text, pattern) }}
{%- endmacro %}

{% macro default__regexp_full_match(text, pattern) -%}
    regexp_full_match({{ text }}, {{ pattern }})
{%- endmacro %}

{% macro spark__regexp_full_match(text, pattern) -%}
    ({{ text }} rlike '^(?:' || {{ pattern }} || ')$')
{%- endmacro %}

{% macro regexp_contains(text, pattern) -%}
    {{ adapter.dispatch('regexp_contains', 'tfm')(text, pattern) }}
{%- endmacro %}

{% macro default__regexp_contains(text, pattern) -%}
    regexp_matches({{ text }}, {{ pattern }})
{%- endmacro %}

{% macro spark__regexp_contains(text, pattern) -%}
    ({{ text }} rlike {{ pattern }})
{%- endmacro %}

{#
    A CTE's materialization hint: DuckDB materializes a CTE read twice unless told not to (see the models that
    use it); Spark inlines every CTE.
#}
{% macro not_materialized() -%}
    {{ adapter.dispatch('not_materialized', 'tfm')() }}
{%- endmacro %}

{% macro default__not_materialized() -%}
    not materialized
{%- endmacro %}

{% macro spark__not_materialized() -%}
{%- endmacro %}

{# The opposite hint: a CTE computed once however often it is read (Spark decides by itself). #}
{% macro always_materialized() -%}
    {{ adapter.dispatch('always_materialized', 'tfm')() }}
{%- endmacro %}

{% macro default__always_materialized() -%}
    materialized
{%- endmacro %}

{% macro spark__always_materialized() -%}
{%- endmacro %}

{# A list's elements, one row each (a select-list expression). #}
{% macro unnest_list(column) -%}
    {{ adapter.dispatch('unnest_list', 'tfm')(column) }}
{%- endmacro %}

{% macro default__unnest_list(column) -%}
    unnest({{ column }})
{%- endmacro %}

{% macro spark__unnest_list(column) -%}
    explode({{ column }})
{%- endmacro %}

{#
    A JSON object (NULL: an empty one) with one more key whose value is a text; the key is written in the model
    and is none of the object's keys.
#}
{% macro json_with_text(json_object, key, value) -%}
    {{ adapter.dispatch('json_with_text', 'tfm')(json_object, key, value) }}
{%- endmacro %}

{% macro default__json_with_text(json_object, key, value) -%}
    json_merge_patch(coalesce({{ json_object }}, json_object()), json_object({{ quote_literal(key) }}, {{ quote_literal(value) }}))
{%- endmacro %}

{% macro spark__json_with_text(json_object, key, value) -%}
    case when coalesce(trim({{ json_object }}), '{}') = '{}'
        then to_json(map({{ quote_literal(key) }}, {{ quote_literal(value) }}))
        else substr(trim({{ json_object }}), 1, length(trim({{ json_object }})) - 1) || ','
            || substr(to_json(map({{ quote_literal(key) }}, {{ quote_literal(value) }})), 2)
    end
{%- endmacro %}

{#
    A JSON object of columns, each under its name (a name from data, quoted by quote_identifier and written as a
    key by quote_literal): names is the list of column names, relation the relation they belong to.
#}
{% macro json_object_of_columns(names, relation) -%}
    {{ adapter.dispatch('json_object_of_columns', 'tfm')(names, relation) }}
{%- endmacro %}

{% macro default__json_object_of_columns(names, relation) -%}
    to_json(struct_pack(
        {%- for name in names %}
        {{ quote_identifier(name) }} := {{ relation }}.{{ quote_identifier(name) }}{{ ',' if not loop.last }}
        {%- endfor %}
    ))
{%- endmacro %}

{% macro spark__json_object_of_columns(names, relation) -%}
    to_json(named_struct(
        {%- for name in names %}
        {{ quote_literal(name) }}, {{ relation }}.{{ quote_identifier(name) }}{{ ',' if not loop.last }}
        {%- endfor %}
    ))
{%- endmacro %}

{# A list's element at a 1-based position (NULL beyond its end), its length, and a JSON list of structs parsed. #}
{% macro list_element(list, position) -%}
    {{ adapter.dispatch('list_element', 'tfm')(list, position) }}
{%- endmacro %}

{% macro default__list_element(list, position) -%}
    {{ list }}[{{ position }}]
{%- endmacro %}

{% macro spark__list_element(list, position) -%}
    try_element_at({{ list }}, {{ position }})
{%- endmacro %}

{% macro list_length(list) -%}
    {{ adapter.dispatch('list_length', 'tfm')(list) }}
{%- endmacro %}

{% macro default__list_length(list) -%}
    len({{ list }})
{%- endmacro %}

{% macro spark__list_length(list) -%}
    size({{ list }})
{%- endmacro %}

{#
    JSON text holding a list of objects, parsed as a list of structs; fields: (name, type) pairs, the types
    'varchar' or 'double'. NULL for text that is not such a list.
#}
{% macro json_struct_list(column, fields) -%}
    {{ adapter.dispatch('json_struct_list', 'tfm')(column, fields) }}
{%- endmacro %}

{% macro default__json_struct_list(column, fields) -%}
    from_json({{ column }}, '[{
        {%- for name, type in fields %}"{{ name }}": "{{ type | upper }}"{{ ', ' if not loop.last }}{% endfor -%}
    }]')
{%- endmacro %}

{% macro spark__json_struct_list(column, fields) -%}
    from_json({{ column }}, 'array<struct<
        {%- for name, type in fields %}{{ name }}: {{ 'string' if type == 'varchar' else type }}{{ ', ' if not loop.last }}{% endfor -%}
    >>')
{%- endmacro %}

{# Keep the list's elements for which the lambda (`x -> condition`) holds. #}
{% macro list_filter(list, lambda) -%}
    {{ adapter.dispatch('list_filter', 'tfm')(list, lambda) }}
{%- endmacro %}

{% macro default__list_filter(list, lambda) -%}
    list_filter({{ list }}, {{ lambda }})
{%- endmacro %}

{% macro spark__list_filter(list, lambda) -%}
    filter({{ list }}, {{ lambda }})
{%- endmacro %}

{# A text as a JSON string value ("..."); NULL stays NULL. #}
{% macro text_to_json(column) -%}
    {{ adapter.dispatch('text_to_json', 'tfm')(column) }}
{%- endmacro %}

{% macro default__text_to_json(column) -%}
    to_json({{ column }})
{%- endmacro %}

{% macro spark__text_to_json(column) -%}
    case when {{ column }} is not null then regexp_extract(to_json(array({{ column }})), '^\\[(.*)\\]$', 1) end
{%- endmacro %}

{# A struct of named fields: pairs of (field name written in the model, SQL expression). #}
{% macro struct_of(pairs) -%}
    {{ return(adapter.dispatch('struct_of', 'tfm')(pairs)) }}
{%- endmacro %}

{% macro default__struct_of(pairs) -%}
    {{ return('struct_pack(' ~ pairs | map('join', ' := ') | join(', ') ~ ')') }}
{%- endmacro %}

{% macro spark__struct_of(pairs) -%}
    {%- set fields = [] -%}
    {%- for name, expression in pairs -%}
        {%- do fields.append(quote_literal(name) ~ ', ' ~ expression) -%}
    {%- endfor -%}
    {{ return('named_struct(' ~ fields | join(', ') ~ ')') }}
{%- endmacro %}

{#
    The column names of a query's result, one row each (column column_name): DuckDB describes the query; Spark
    reads them as the keys of each row as a JSON object.
#}
{% macro described_column_names(query) -%}
    {{ adapter.dispatch('described_column_names', 'tfm')(query) }}
{%- endmacro %}

{% macro default__described_column_names(query) -%}
    select column_name
    from (describe {{ query }})
{%- endmacro %}

{% macro spark__described_column_names(query) -%}
    select explode(map_keys(from_json(to_json(struct(*)), 'map<string, string>'))) as column_name
    from ({{ query }}) as described
{%- endmacro %}

{#
    A map as a value that can be grouped, compared and sorted: the map itself on DuckDB; its JSON text on Spark,
    which neither groups nor compares maps (maps built in key order, as the tag model builds them, give one text
    per content). map_from_comparable turns it back into a map.
#}
{% macro comparable_map(column) -%}
    {{ return(adapter.dispatch('comparable_map', 'tfm')(column)) }}
{%- endmacro %}

{% macro default__comparable_map(column) -%}
    {{ return(column) }}
{%- endmacro %}

{% macro spark__comparable_map(column) -%}
    {{ return('to_json(' ~ column ~ ')') }}
{%- endmacro %}

{% macro map_from_comparable(column) -%}
    {{ return(adapter.dispatch('map_from_comparable', 'tfm')(column)) }}
{%- endmacro %}

{% macro default__map_from_comparable(column) -%}
    {{ return(column) }}
{%- endmacro %}

{% macro spark__map_from_comparable(column) -%}
    {{ return("from_json(" ~ column ~ ", 'map<string, string>')") }}
{%- endmacro %}

{#
    Numbers 1..n for the rows of a query in no particular order (an id for rows that are distinct): DuckDB numbers
    them as they come; Spark needs an order, the columns given (which tell every row apart).
#}
{% macro row_number_in_any_order(columns) -%}
    {{ adapter.dispatch('row_number_in_any_order', 'tfm')(columns) }}
{%- endmacro %}

{% macro default__row_number_in_any_order(columns) -%}
    row_number() over ()
{%- endmacro %}

{% macro spark__row_number_in_any_order(columns) -%}
    row_number() over (order by {{ columns | join(', ') }})
{%- endmacro %}
