{#
    The budget alert level a cost has reached: '100%' (at or over budget), '75%', '50%', else 'under 50%';
    'no budget' when there is none.
#}
{% macro budget_alert_level(actual, budget) -%}
    case
        when {{ budget }} is null then 'no budget'
        when {{ actual }} >= {{ budget }} then '100%'
        when {{ actual }} >= 0.75 * {{ budget }} then '75%'
        when {{ actual }} >= 0.50 * {{ budget }} then '50%'
        else 'under 50%'
    end
{%- endmacro %}
