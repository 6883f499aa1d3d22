{#
    Commitment KPIs per billing month and provider, on amortized cost (FINOPS_MODEL.md formulas):

    - coverage = on-demand-equivalent (list) cost of committed usage / that of eligible usage, where eligible
      usage is the usage (not Unused rows, not Savings Plan negations) of the service categories in which
      the provider applied a commitment that month;
    - utilization = used commitment / total commitment, and waste % = unused / total x 100, where used is the
      EffectiveCost of Used rows and unused of Unused rows (their sum is the commitments' amortized cost);
    - savings: negotiated = List - Contracted, commitment = Contracted - Effective, realized = List - Effective,
      and effective savings rate = realized / List, over usage rows; purchase rows of amortized commitments
      are left out so that savings are not counted twice.
#}
with

charges as (

    select * from {{ ref('fct_focus_charges') }}

),

usage as (

    select
        cast(date_trunc('month', BillingPeriodStart) as date) as billing_period_start,
        ProviderName as provider_name,
        ServiceCategory as service_category,
        CommitmentDiscountStatus as commitment_status,
        ListCost as list_cost,
        ContractedCost as contracted_cost,
        EffectiveCost as effective_cost
    from charges
    where ChargeCategory = 'Usage'
        and coalesce(x_line_item_type, '') <> 'SavingsPlanNegation'

),

committed_categories as (

    select distinct billing_period_start, provider_name, service_category
    from usage
    where commitment_status = 'Used'

),

per_month as (

    select
        usage.billing_period_start,
        usage.provider_name,
        sum(case when committed_categories.service_category is not null and usage.commitment_status is distinct from 'Unused'
            then usage.list_cost else 0 end) as eligible_on_demand_cost,
        sum(case when usage.commitment_status = 'Used' then usage.list_cost else 0 end) as covered_on_demand_cost,
        sum(case when usage.commitment_status = 'Used' then usage.effective_cost else 0 end) as used_commitment_cost,
        sum(case when usage.commitment_status = 'Unused' then usage.effective_cost else 0 end) as unused_commitment_cost,
        sum(case when usage.commitment_status is distinct from 'Unused' then usage.list_cost else 0 end) as list_cost,
        sum(case when usage.commitment_status is distinct from 'Unused' then usage.contracted_cost else 0 end)
            as contracted_cost,
        sum(usage.effective_cost) as effective_cost
    from usage
    left join committed_categories
        on usage.billing_period_start = committed_categories.billing_period_start
        and usage.provider_name = committed_categories.provider_name
        and usage.service_category = committed_categories.service_category
    group by all

),

final as (

    select
        billing_period_start,
        provider_name,
        {{ money('eligible_on_demand_cost') }} as eligible_on_demand_cost,
        {{ money('covered_on_demand_cost') }} as covered_on_demand_cost,
        cast(covered_on_demand_cost / nullif(eligible_on_demand_cost, 0) as double) as commitment_coverage,
        {{ money('used_commitment_cost') }} as used_commitment_cost,
        {{ money('unused_commitment_cost') }} as unused_commitment_cost,
        {{ money('used_commitment_cost + unused_commitment_cost') }} as total_commitment_cost,
        cast(used_commitment_cost / nullif(used_commitment_cost + unused_commitment_cost, 0) as double)
            as commitment_utilization,
        cast(100 * unused_commitment_cost / nullif(used_commitment_cost + unused_commitment_cost, 0) as double)
            as commitment_waste_pct,
        {{ money('list_cost') }} as list_cost,
        {{ money('contracted_cost') }} as contracted_cost,
        {{ money('effective_cost') }} as effective_cost,
        {{ money('list_cost - contracted_cost') }} as negotiated_savings,
        {{ money('contracted_cost - effective_cost') }} as commitment_savings,
        {{ money('list_cost - effective_cost') }} as savings_realized,
        cast((list_cost - effective_cost) / nullif(list_cost, 0) as double) as effective_savings_rate
    from per_month

)

select * from final
