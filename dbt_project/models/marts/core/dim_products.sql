{#
    The products costs are allocated to (seed products) with their current owning team, plus the
    'unallocated' member for cost no product can be named for. Dated ownership (seed ownership, rows keyed
    on the product tag) takes precedence over owning_team in the allocation.
#}
with

products as (

    select * from {{ ref('products') }}

),

unallocated as (

    select
        'unallocated' as product,
        'Unallocated' as product_name,
        cast(null as string) as owning_team,
        true as is_unallocated

),

final as (

    select
        product,
        product_name,
        owning_team,
        false as is_unallocated
    from products
    union all
    select * from unallocated

)

select * from final
