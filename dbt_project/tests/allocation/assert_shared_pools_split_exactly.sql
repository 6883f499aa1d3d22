{{ config(severity = 'error') }}
{#
    Every shared pool's shares add up to the pool exactly (not just to the cent), for effective and billed
    cost: the remainder of the DECIMAL shares must have landed on one recipient. Returns the pools that differ.
#}
with

shares as (

    select * from {{ ref('int_shared_pools_split') }}

),

pools as (

    select
        pool_id,
        min(pool_effective_cost) as pool_effective_cost,
        max(pool_effective_cost) as pool_effective_cost_check,
        min(pool_billed_cost) as pool_billed_cost,
        sum(shared_effective_cost) as shared_effective_cost,
        sum(shared_billed_cost) as shared_billed_cost
    from shares
    group by pool_id

),

final as (

    select * from pools
    where pool_effective_cost <> pool_effective_cost_check
        or shared_effective_cost <> pool_effective_cost
        or shared_billed_cost <> pool_billed_cost

)

select * from final
