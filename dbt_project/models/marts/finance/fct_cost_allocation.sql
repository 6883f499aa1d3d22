{#
    Every cost of fct_focus_charges with its owner: the charges teams own directly (by tag or by account),
    the shares of the shared pools the allocation rules split, and what nobody owns (team 'unallocated'),
    so that the sum over all rows equals the FOCUS total for every day and billing period. direct_* holds the
    cost of charges themselves (owned, or left unallocated); shared_* holds shares of split pools.
    Grain: usage_date x billing period x billing account x sub account x service x team x product x cost
    center x allocation method x allocation rule.
#}
with

owned_charges as (

    select * from {{ ref('int_charges_owned') }}
    where {{ billing_period_filter("date_trunc('month', billing_period_start)") }}

),

pool_shares as (

    select * from {{ ref('int_shared_pools_split') }}
    where {{ billing_period_filter("date_trunc('month', billing_period_start)") }}

),

direct_rows as (

    select
        usage_date,
        billing_period_start,
        billing_account_id,
        sub_account_id,
        service_name,
        team,
        product,
        cost_center,
        ownership as allocation_method,
        cast(null as string) as allocation_rule_id,
        billing_currency,
        effective_cost as direct_effective_cost,
        {{ money('0') }} as shared_effective_cost,
        billed_cost as direct_billed_cost,
        {{ money('0') }} as shared_billed_cost
    from owned_charges
    where ownership in ('direct_tag', 'direct_account', 'unallocated')

),

shared_rows as (

    select
        usage_date,
        billing_period_start,
        billing_account_id,
        sub_account_id,
        service_name,
        team,
        product,
        cost_center,
        allocation_method,
        allocation_rule_id,
        billing_currency,
        -- a pool no recipient could take stays whole: its cost is unallocated, not a share
        case when allocation_method = 'unallocated' then shared_effective_cost else 0 end as direct_effective_cost,
        case when allocation_method = 'unallocated' then 0 else shared_effective_cost end as shared_effective_cost,
        case when allocation_method = 'unallocated' then shared_billed_cost else 0 end as direct_billed_cost,
        case when allocation_method = 'unallocated' then 0 else shared_billed_cost end as shared_billed_cost
    from pool_shares

),

all_rows as (

    select * from direct_rows
    union all
    select * from shared_rows

),

final as (

    select
        usage_date,
        billing_period_start,
        billing_account_id,
        sub_account_id,
        service_name,
        team,
        product,
        cost_center,
        allocation_method,
        allocation_rule_id,
        billing_currency,
        {{ money('sum(direct_effective_cost)') }} as direct_effective_cost,
        {{ money('sum(shared_effective_cost)') }} as shared_effective_cost,
        {{ money('sum(direct_effective_cost) + sum(shared_effective_cost)') }} as effective_cost,
        {{ money('sum(direct_billed_cost)') }} as direct_billed_cost,
        {{ money('sum(shared_billed_cost)') }} as shared_billed_cost,
        {{ money('sum(direct_billed_cost) + sum(shared_billed_cost)') }} as billed_cost
    from all_rows
    group by
        usage_date,
        billing_period_start,
        billing_account_id,
        sub_account_id,
        service_name,
        team,
        product,
        cost_center,
        allocation_method,
        allocation_rule_id,
        billing_currency

)

select * from final
