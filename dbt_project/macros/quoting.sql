{#
    The one place the dbt project turns text that came from data or from the warehouse's metadata (a column
    name a file brought, a relation's name, a value) into SQL text: the quote character is doubled, so the
    text can only ever be read as the name or the string it is, never as SQL. adapter.quote() does not
    escape and must not be used for such names. The ingestion code follows the same rule in Python
    (orchestration/quoting.py).
#}

{# An identifier, quoted: a"b -> "a""b" (Spark: a`b -> `a``b`). #}
{% macro quote_identifier(name) -%}
    {{- adapter.dispatch('quote_identifier', 'tfm')(name) -}}
{%- endmacro %}

{% macro default__quote_identifier(name) -%}
    {{- '"' ~ (name | string | replace('"', '""')) ~ '"' -}}
{%- endmacro %}

{% macro spark__quote_identifier(name) -%}
    {{- '`' ~ (name | string | replace('`', '``')) ~ '`' -}}
{%- endmacro %}

{#
    A string literal, quoted: it's -> 'it''s'. Spark reads backslash escapes in string literals and no doubled
    quote: the backslash and the quote are escaped with a backslash (it's -> 'it\'s').
#}
{% macro quote_literal(value) -%}
    {{- adapter.dispatch('quote_literal', 'tfm')(value) -}}
{%- endmacro %}

{% macro default__quote_literal(value) -%}
    {{- "'" ~ (value | string | replace("'", "''")) ~ "'" -}}
{%- endmacro %}

{% macro spark__quote_literal(value) -%}
    {{- "'" ~ (value | string | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'" -}}
{%- endmacro %}
