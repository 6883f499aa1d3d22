{#
    Money arithmetic that stays DECIMAL. DuckDB types the product of two DECIMAL(38, 18) values as
    DECIMAL(38, 36), which overflows above 99; the operands are narrowed to 12 decimals first (product:
    DECIMAL(38, 24), 14 integer digits) and the result is brought back to the warehouse's money type.
#}
{% macro money_product(price, quantity) -%}
    {{ adapter.dispatch('money_product', 'tfm')(price, quantity) }}
{%- endmacro %}

{% macro default__money_product(price, quantity) -%}
    cast(cast({{ price }} as decimal(38, 12)) * cast({{ quantity }} as decimal(38, 12)) as decimal(38, 18))
{%- endmacro %}

{#
    Spark types the product as DuckDB does when decimal operations keep their scale (profiles.yml); dbt-spark
    runs every session with ANSI mode off, where an overflow is NULL, not an error: a NULL product of two
    non-NULL operands stops the query instead of passing as a missing cost.
#}
{% macro spark__money_product(price, quantity) -%}
    {{ spark_no_overflow(
        'cast(cast(' ~ price ~ ' as decimal(38, 12)) * cast(' ~ quantity ~ ' as decimal(38, 12)) as decimal(38, 18))',
        [price, quantity]) }}
{%- endmacro %}

{% macro spark_no_overflow(expression, operands) -%}
    coalesce({{ expression }}, case when {% for operand in operands %}{{ operand }} is not null{{ ' and ' if not loop.last }}{% endfor %}
        then raise_error('decimal overflow: ' || {{ quote_literal(expression) }}) end)
{%- endmacro %}

{#
    unit price x quantity for a price already rounded to 12 decimals (unit_price_12, once per distinct price: see
    unit_prices_at_12_decimals) and a quantity at its full scale. Narrowing a DECIMAL(38, 18) is a 128-bit division,
    DuckDB's slowest step in a model that multiplies every line item, so the quantity is not narrowed when the
    product fits DECIMAL(38, 30) (below 10^8): quantity_limit is 10^7 / |price|, a tenfold margin. A larger product
    (rare) narrows the quantity to 12 decimals, as money_product does, and can reach 10^14.
#}
{% macro money_product_by_unit_price(unit_price_12, quantity_limit, quantity) -%}
    {{ adapter.dispatch('money_product_by_unit_price', 'tfm')(unit_price_12, quantity_limit, quantity) }}
{%- endmacro %}

{% macro default__money_product_by_unit_price(unit_price_12, quantity_limit, quantity) -%}
    case
        when abs({{ quantity }}) < {{ quantity_limit }}
            then cast({{ unit_price_12 }} * {{ quantity }} as decimal(38, 18))
        else cast({{ unit_price_12 }} * cast({{ quantity }} as decimal(38, 12)) as decimal(38, 18))
    end
{%- endmacro %}

{% macro spark__money_product_by_unit_price(unit_price_12, quantity_limit, quantity) -%}
    {{ spark_no_overflow(default__money_product_by_unit_price(unit_price_12, quantity_limit, quantity),
        [unit_price_12, quantity]) }}
{%- endmacro %}

{#
    The distinct unit prices of a column list, each with its value at 12 decimals and the largest quantity
    money_product_by_unit_price multiplies without narrowing it (a zero price: any quantity below 10^20).
#}
{% macro unit_prices_at_12_decimals(relation, columns) -%}
    select
        unit_price,
        cast(unit_price as decimal(38, 12)) as unit_price_12,
        case
            when cast(unit_price as decimal(38, 12)) = 0 then cast(99999999999999999999 as decimal(38, 18))
            else cast(10000000 / abs(cast(unit_price as decimal(38, 12))) as decimal(38, 18))
        end as quantity_limit
    from (
        {%- for column in columns %}
        select {{ column }} as unit_price from {{ relation }} where {{ column }} is not null
        {%- if not loop.last %}
        union
        {%- endif %}
        {%- endfor %}
    ) as distinct_unit_prices
{%- endmacro %}

{% macro money(expression) -%}
    cast({{ expression }} as decimal(38, 18))
{%- endmacro %}
