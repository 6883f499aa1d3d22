{#
    Date functions whose spelling differs between DuckDB (default__) and Spark (spark__).
#}

{# The number of unit boundaries (day, second) from start to end. #}
{% macro date_difference(unit, start, end) -%}
    {{ adapter.dispatch('date_difference', 'tfm')(unit, start, end) }}
{%- endmacro %}

{% macro default__date_difference(unit, start, end) -%}
    datediff({{ quote_literal(unit) }}, {{ start }}, {{ end }})
{%- endmacro %}

{% macro spark__date_difference(unit, start, end) -%}
    timestampdiff({{ unit | upper }}, {{ start }}, {{ end }})
{%- endmacro %}

{# The ISO day of the week, 1 (Monday) to 7 (Sunday). #}
{% macro iso_day_of_week(column) -%}
    {{ adapter.dispatch('iso_day_of_week', 'tfm')(column) }}
{%- endmacro %}

{% macro default__iso_day_of_week(column) -%}
    extract(isodow from {{ column }})
{%- endmacro %}

{% macro spark__iso_day_of_week(column) -%}
    extract(dayofweek_iso from {{ column }})
{%- endmacro %}

{# The integers from start (included) to stop (excluded), one row each (a select-list expression). #}
{% macro integer_range(start, stop) -%}
    {{ adapter.dispatch('integer_range', 'tfm')(start, stop) }}
{%- endmacro %}

{% macro default__integer_range(start, stop) -%}
    cast(unnest(range({{ start }}, {{ stop }})) as integer)
{%- endmacro %}

{% macro spark__integer_range(start, stop) -%}
    explode(sequence({{ start }}, {{ stop }} - 1))
{%- endmacro %}
