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
        {{ staging_lineage_columns() }}

    from source

)

select * from renamed
