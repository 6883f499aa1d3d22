{#
    FOCUS charges as exported, one row per row of a FOCUS file, in the FOCUS 1.2 column names.

    The raw table holds every FOCUS 1.2 column whatever version a file is (NULL where an older
    version lacks it). Columns a file brings that FOCUS does not define (the FinOps Foundation
    sample's Id, a provider's x_ columns) are gathered, under their names as in the file, into one
    JSON object, source_extras, so that whatever a file names them they can neither collide with the
    columns named here nor be read as SQL: their names are data, quoted by quote_identifier.
#}

{%- set source_relation = source('focus', 'charges') -%}

{%- set focus_columns = focus_columns() -%}
{%- set decimal_columns = focus_decimal_columns() -%}
{%- set timestamp_columns = focus_datetime_columns() -%}
{%- set lineage_columns = [
    '_focus_version', '_source_file', '_file_checksum', '_source_row', '_billing_period', '_ingested_at'] -%}

{#- Extra columns: what the raw table has beyond FOCUS and ingestion's lineage. -#}
{%- set known = [] -%}
{%- for name in focus_columns + lineage_columns -%}
    {%- do known.append(name | lower) -%}
{%- endfor -%}
{%- set extra_columns = [] -%}
{%- for name in relation_column_names(source_relation) -%}
    {%- if name | lower not in known -%}
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

        -- columns the file brings beyond FOCUS, by their names in the file
        {% if extra_columns -%}
        {{ json_object_of_columns(extra_columns, 'source') }}
        {%- else -%}
        cast(null as {{ json_type() }})
        {%- endif %} as source_extras,

        -- version and lineage
        cast(_focus_version as string) as focus_version,
        {{ staging_lineage_columns() }}

    from source

)

select * from renamed
