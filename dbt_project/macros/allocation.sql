{#
    The engine-specific functions the allocation models, dimensions and team statements rely on, in one place:
    each macro dispatches (adapter.dispatch) to its DuckDB implementation (default__) or its Spark one (spark__).
#}

{# The value of a key in a MAP(VARCHAR, VARCHAR) (NULL when the key is absent); the key may be a column. #}
{% macro string_map_value(map_column, key) -%}
    {{ map_column }}[{{ key }}]
{%- endmacro %}

{#
    numerator / denominator as DECIMAL(38, 12), computed in integers so no floating point is involved
    (DuckDB divides DECIMALs in DOUBLE): both operands are taken in millionths (rounded), the quotient is
    truncated to 12 decimals. Meant for allocation weights: non-negative operands, a positive denominator,
    operands below 10^14. Amounts split with these weights are made exact by a remainder, not by the weights.
#}
{% macro decimal_ratio(numerator, denominator) -%}
    {{ adapter.dispatch('decimal_ratio', 'tfm')(numerator, denominator) }}
{%- endmacro %}

{% macro default__decimal_ratio(numerator, denominator) -%}
    (cast(
        (cast(round({{ numerator }} * 1000000) as hugeint) * cast(1000000000000 as hugeint))
        // cast(round({{ denominator }} * 1000000) as hugeint)
        as decimal(38, 0)
    ) * 0.000000000001)
{%- endmacro %}

{#
    Spark has no 128-bit integer: the same integers as DECIMAL(38, 0), the truncated quotient taken exactly as
    (a - a % b) / b, which has no remainder to round.
#}
{% macro spark__decimal_ratio(numerator, denominator) -%}
    {%- set dividend = 'cast(round(' ~ numerator ~ ' * 1000000) as decimal(38, 0)) * cast(1000000000000 as decimal(38, 0))' -%}
    {%- set divisor = 'cast(round(' ~ denominator ~ ' * 1000000) as decimal(38, 0))' -%}
    (cast(
        (({{ dividend }}) - ({{ dividend }}) % ({{ divisor }})) / ({{ divisor }})
        as decimal(38, 0)
    ) * 0.000000000001)
{%- endmacro %}

{# One row per day from start_date to end_date, both included: a select-list expression of DATE values. #}
{% macro date_series(start_date, end_date) -%}
    {{ adapter.dispatch('date_series', 'tfm')(start_date, end_date) }}
{%- endmacro %}

{% macro default__date_series(start_date, end_date) -%}
    cast(unnest(generate_series(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day)) as date)
{%- endmacro %}

{% macro spark__date_series(start_date, end_date) -%}
    explode(sequence(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day))
{%- endmacro %}

{# The value of a column on the row where another column is largest / smallest (an aggregate). #}
{% macro value_at_max(value_column, order_column) -%}
    {{ adapter.dispatch('value_at_max', 'tfm')(value_column, order_column) }}
{%- endmacro %}

{% macro default__value_at_max(value_column, order_column) -%}
    arg_max({{ value_column }}, {{ order_column }})
{%- endmacro %}

{% macro spark__value_at_max(value_column, order_column) -%}
    max_by({{ value_column }}, {{ order_column }})
{%- endmacro %}

{% macro value_at_min(value_column, order_column) -%}
    {{ adapter.dispatch('value_at_min', 'tfm')(value_column, order_column) }}
{%- endmacro %}

{% macro default__value_at_min(value_column, order_column) -%}
    arg_min({{ value_column }}, {{ order_column }})
{%- endmacro %}

{% macro spark__value_at_min(value_column, order_column) -%}
    min_by({{ value_column }}, {{ order_column }})
{%- endmacro %}

{# The distinct non-NULL values of a column as one comma-separated, alphabetical string (an aggregate). #}
{% macro distinct_values_list(column) -%}
    {{ adapter.dispatch('distinct_values_list', 'tfm')(column) }}
{%- endmacro %}

{% macro default__distinct_values_list(column) -%}
    string_agg(distinct {{ column }}, ', ' order by {{ column }})
{%- endmacro %}

{# Spark: the set of values sorted (listagg distinct ... within group fails beside other aggregates in 4.3). #}
{% macro spark__distinct_values_list(column) -%}
    case when count({{ column }}) > 0 then array_join(array_sort(collect_set({{ column }})), ', ') end
{%- endmacro %}

{# A list of text values as rows of one column (a select-list expression). #}
{% macro unnest_values(values) -%}
    {{ adapter.dispatch('unnest_values', 'tfm')(values) }}
{%- endmacro %}

{% macro default__unnest_values(values) -%}
    unnest([{% for value in values %}{{ quote_literal(value) }}{{ ', ' if not loop.last }}{% endfor %}])
{%- endmacro %}

{% macro spark__unnest_values(values) -%}
    explode(array({% for value in values %}{{ quote_literal(value) }}{{ ', ' if not loop.last }}{% endfor %}))
{%- endmacro %}
