{#
    Custom schemas are used as named: a model configured with +schema: staging lands in the
    schema `staging`, not `<target schema>_staging`. Models without a custom schema land in the
    target's schema.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
