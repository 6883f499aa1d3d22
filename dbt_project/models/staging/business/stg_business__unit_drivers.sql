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
        {{ staging_lineage_columns() }}

    from source

)

select * from renamed
