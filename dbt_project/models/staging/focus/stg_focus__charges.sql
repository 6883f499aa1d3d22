{#
    FOCUS charges as exported, one row per row of a FOCUS file, in the FOCUS 1.2 column names.

    The raw table holds every FOCUS 1.2 column whatever version a file is (NULL where an older
    version lacks it). Columns a file brings that FOCUS does not define (the FinOps Foundation
    sample's Id, a provider's x_ columns) follow the FOCUS columns, named as in the file, when
    the raw table has them.
#}

{%- set source_relation = source('focus', 'charges') -%}

{%- set focus_columns = focus_columns() -%}
{%- set decimal_columns = focus_decimal_columns() -%}
{%- set timestamp_columns = focus_datetime_columns() -%}
{%- set added_columns = ['focus_version', 'source_file', 'file_checksum', 'source_row', 'billing_period', 'ingested_at'] -%}

{#- Extra columns: what the raw table has beyond FOCUS, ingestion lineage and the names added here. -#}
{%- set known = [] -%}
{%- for name in focus_columns + added_columns -%}
    {%- do known.append(name | lower) -%}
{%- endfor -%}
{%- set extra_columns = [] -%}
{%- for name in relation_column_names(source_relation) -%}
    {%- if name | lower not in known and not name.startswith('_') -%}
        {%- do extra_columns.append(name) -%}
    {%- endif -%}
{%- endfor %}

with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        {%- for name in focus_columns %}
        {% if name in decimal_columns -%}
        cast({{ name }} as decimal(38, 18)) as {{ name }},
        {%- elif name in timestamp_columns -%}
        cast({{ name }} as timestamp) as {{ name }},
        {%- else -%}
        {{ cast_text(name) }} as {{ name }},
        {%- endif -%}
        {%- endfor %}

        -- columns the file brings beyond FOCUS
        {%- for name in extra_columns %}
        {{ adapter.quote(name) }},
        {%- endfor %}

        -- version and lineage
        cast(_focus_version as varchar) as focus_version,
        cast(_source_file as varchar) as source_file,
        cast(_file_checksum as varchar) as file_checksum,
        cast(_source_row as bigint) as source_row,
        cast(_billing_period as date) as billing_period,
        cast(_ingested_at as timestamp) as ingested_at

    from source

)

select * from renamed
