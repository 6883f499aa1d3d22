{#
    Daily business volume per product (raw.unit_drivers), renamed and cast: the driver allocation's weights
    and the denominators of unit costs.
#}
with

source as (

    select * from {{ source('business', 'unit_drivers') }}

),

renamed as (

    select
        cast(date as date) as date,
        {{ cast_text('product') }} as product,
        cast(requests as bigint) as requests,
        cast(transactions as bigint) as transactions,
        cast(active_customers as bigint) as active_customers,

        -- lineage
        cast(_source_file as varchar) as source_file,
        cast(_file_checksum as varchar) as file_checksum,
        cast(_source_row as bigint) as source_row,
        cast(_billing_period as date) as billing_period,
        cast(_ingested_at as timestamp) as ingested_at

    from source

)

select * from renamed
