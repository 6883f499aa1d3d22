{#
    Daily service level indicator counts per service (raw.sli_daily), renamed and cast.
#}
with

source as (

    select * from {{ source('business', 'sli_daily') }}

),

renamed as (

    select
        cast(date as date) as date,
        {{ cast_text('service') }} as service,
        {{ cast_text('sli_name') }} as sli_name,
        cast(good_events as bigint) as good_events,
        cast(total_events as bigint) as total_events,

        -- lineage
        cast(_source_file as varchar) as source_file,
        cast(_file_checksum as varchar) as file_checksum,
        cast(_source_row as bigint) as source_row,
        cast(_billing_period as date) as billing_period,
        cast(_ingested_at as timestamp) as ingested_at

    from source

)

select * from renamed
