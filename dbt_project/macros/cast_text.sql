{#
    A text column as VARCHAR, with empty strings read as missing (NULL).

    Legacy CUR CSV loads empty cells as NULL while the Athena parquet files carry empty strings;
    reading both as NULL keeps one meaning for "no value" across the source families.
#}
{% macro cast_text(column) -%}
    nullif(cast({{ column }} as string), '')
{%- endmacro %}
