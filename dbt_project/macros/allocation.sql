{#
    The DuckDB functions the allocation models, dimensions and team statements rely on, in one place, so another
    warehouse needs new implementations here rather than edits across models.
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
    (cast(
        (cast(round({{ numerator }} * 1000000) as hugeint) * cast(1000000000000 as hugeint))
        // cast(round({{ denominator }} * 1000000) as hugeint)
        as decimal(38, 0)
    ) * 0.000000000001)
{%- endmacro %}

{# One row per day from start_date to end_date, both included: a select-list expression of DATE values. #}
{% macro date_series(start_date, end_date) -%}
    cast(unnest(generate_series(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day)) as date)
{%- endmacro %}

{# The value of a column on the row where another column is largest (an aggregate). #}
{% macro value_at_max(value_column, order_column) -%}
    arg_max({{ value_column }}, {{ order_column }})
{%- endmacro %}

{# The distinct non-NULL values of a column as one comma-separated, alphabetical string (an aggregate). #}
{% macro distinct_values_list(column) -%}
    string_agg(distinct {{ column }}, ', ' order by {{ column }})
{%- endmacro %}
