{#
    Operational incidents (raw.incidents), renamed and cast; times are UTC.
#}
with

source as (

    select * from {{ source('business', 'incidents') }}

),

renamed as (

    select
        {{ cast_text('incident_id') }} as incident_id,
        cast(started_at as timestamp) as started_at,
        cast(ended_at as timestamp) as ended_at,
        {{ cast_text('affected_service') }} as affected_service,
        {{ cast_text('severity') }} as severity,
        {{ cast_text('summary') }} as summary,

        -- lineage
        {{ staging_lineage_columns() }}

    from source

)

select * from renamed
