{#
    Money arithmetic that stays DECIMAL. DuckDB types the product of two DECIMAL(38, 18) values as
    DECIMAL(38, 36), which overflows above 99; the operands are narrowed to 12 decimals first (product:
    DECIMAL(38, 24), 14 integer digits) and the result is brought back to the warehouse's money type.
#}
{% macro money_product(price, quantity) -%}
    cast(cast({{ price }} as decimal(38, 12)) * cast({{ quantity }} as decimal(38, 12)) as decimal(38, 18))
{%- endmacro %}

{% macro money(expression) -%}
    cast({{ expression }} as decimal(38, 18))
{%- endmacro %}

