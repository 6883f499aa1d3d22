{#
    Daily effective (amortized) cost per series: the input of the spend forecasts and the anomaly monitor,
    and what their accuracy is measured against. Series levels:

    - organization (key 'all') and team: fct_cost_allocation, shared costs included (team 'unallocated' is
      what nobody owns);
    - service and billing_account: fct_focus_charges;
    - service_account (key '<service> @ <sub account>'): usage that accrues day by day only (ChargeCategory
      Usage, ChargeFrequency Usage-Based, not the unused part of a commitment), the anomaly monitor's leaf.
      Fees, taxes, credits and unused commitments arrive once a month by design; on the demo they made 40 of
      46 anomaly episodes.

    Costs in different currencies are separate series. A day without charges has no row.
#}
with

-- Each read by several series below: not materialized, so each series scans the few columns it needs from the
-- table (a materialized copy of every charge, all columns, spilled 40+ GB to disk at 50M charges a month).
allocation as {{ not_materialized() }} (

    select billing_currency, team, usage_date, effective_cost
    from {{ ref('fct_cost_allocation') }}

),

charges as {{ not_materialized() }} (

    select
        ServiceName,
        BillingAccountId,
        SubAccountId,
        BillingCurrency,
        ChargePeriodStart,
        ChargeCategory,
        ChargeFrequency,
        CommitmentDiscountStatus,
        EffectiveCost
    from {{ ref('fct_focus_charges') }}

),

organization as (

    select
        'organization' as series_level,
        'all' as series_key,
        coalesce(billing_currency, '') as currency,
        usage_date,
        sum(effective_cost) as effective_cost
    from allocation
    group by all

),

teams as (

    select 'team', team, coalesce(billing_currency, ''), usage_date, sum(effective_cost)
    from allocation
    group by all

),

services as (

    select
        'service', coalesce(ServiceName, 'unknown'), coalesce(BillingCurrency, ''),
        cast(ChargePeriodStart as date), sum(EffectiveCost)
    from charges
    group by all

),

billing_accounts as (

    select
        'billing_account', BillingAccountId, coalesce(BillingCurrency, ''),
        cast(ChargePeriodStart as date), sum(EffectiveCost)
    from charges
    group by all

),

service_accounts as (

    select
        'service_account',
        coalesce(ServiceName, 'unknown') || ' @ ' || coalesce(SubAccountId, '-'),
        coalesce(BillingCurrency, ''),
        cast(ChargePeriodStart as date),
        sum(EffectiveCost)
    from charges
    where ChargeCategory = 'Usage'
        and ChargeFrequency = 'Usage-Based'
        and coalesce(CommitmentDiscountStatus, '') <> 'Unused'
    group by all

),

unioned as (

    select * from organization
    union all select * from teams
    union all select * from services
    union all select * from billing_accounts
    union all select * from service_accounts

),

final as (

    select
        series_level,
        series_key,
        currency,
        usage_date,
        {{ money('effective_cost') }} as effective_cost
    from unioned
    where usage_date is not null

)

select * from final
