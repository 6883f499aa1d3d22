{#
    Fails on every row of the model where the SQL expression is not true (dbt_utils' test of the same name,
    written here because the package hub is out of reach).
#}
{% test expression_is_true(model, expression, column_name=None) %}

select *
from {{ model }}
where not coalesce(({{ expression }}), false)

{% endtest %}
