{#
    How the rows of a unit test's `given` and `expect` reach either engine, so one test definition runs on
    DuckDB and on Spark. dbt writes every value of a `rows` list into SQL through safe_cast (the value as a
    literal, cast to its column's type) and every text through escape_single_quotes; these are the project's
    overrides of those dispatched dbt macros (the root project's default__ and spark__ macros come before
    dbt's own).
#}

{#
    A value written in the test as a YAML map or list, the value of a MAP, LIST (array) or STRUCT column (tag
    maps, lists of structs), is passed as its JSON text, quoted by quote_literal, and parsed by the engine:
    DuckDB casts the JSON to the column's type, Spark reads it with from_json. A map keeps the order its keys
    are written in. Every other value is cast as dbt casts it.
#}
{% macro default__safe_cast(field, type) -%}
    {%- if field is mapping or (field is sequence and field is not string) -%}
        cast(cast({{ quote_literal(tojson(field)) }} as json) as {{ type }})
    {%- else -%}
        {{ dbt.default__safe_cast(field, type) }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__safe_cast(field, type) -%}
    {%- if field is mapping or (field is sequence and field is not string) -%}
        from_json({{ quote_literal(tojson(field)) }}, {{ quote_literal(type) }})
    {%- else -%}
        {{ dbt.spark__safe_cast(field, type) }}
    {%- endif -%}
{%- endmacro %}

{#
    Spark reads backslash escapes in string literals: the backslash is escaped as well as the quote (as
    quote_literal does), so a fixture's text reaches Spark as written (dbt-spark escapes the quote only, and a
    JSON text's \" or \n came through changed).
#}
{% macro spark__escape_single_quotes(expression) -%}
    {{- expression | replace("\\", "\\\\") | replace("'", "\\'") -}}
{%- endmacro %}
