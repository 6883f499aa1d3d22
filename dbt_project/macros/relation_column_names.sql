{#
    The column names of a relation as the warehouse spells them, read from the warehouse.

    Raw tables gain columns when a file brings a column the table did not have yet, so staging
    models use this to include such a column only when it exists. Returns an empty list while dbt
    parses the project (nothing is executed then, and no warehouse needs to exist).
#}
{% macro relation_column_names(relation) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set names = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- do names.append(column.name) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}
