{#
    The lineage columns every raw table ends with (written by tfm's ingest), renamed and typed for staging.
#}
{% macro staging_lineage_columns() -%}
        cast(_source_file as string) as source_file,
        cast(_file_checksum as string) as file_checksum,
        cast(_source_row as bigint) as source_row,
        cast(_billing_period as date) as billing_period,
        cast(_ingested_at as timestamp) as ingested_at
{%- endmacro %}
