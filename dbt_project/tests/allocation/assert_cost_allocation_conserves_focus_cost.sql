{{ config(severity = 'error') }}
{#
    Conservation: allocated + unallocated cost equals the FOCUS total, to the cent, for effective and billed
    cost, per billing account and usage day and per billing account and billing period. Returns the days and
    periods that differ, or that exist on one side only.
#}
with

focus_charges as (

    select
        BillingAccountId as billing_account_id,
        cast(ChargePeriodStart as date) as usage_date,
        cast(BillingPeriodStart as date) as billing_period_start,
        EffectiveCost as effective_cost,
        BilledCost as billed_cost
    from {{ ref('fct_focus_charges') }}

),

allocation as (

    select * from {{ ref('fct_cost_allocation') }}

),

{%- for grain in ['usage_date', 'billing_period_start'] %}

focus_by_{{ grain }} as (

    select
        billing_account_id,
        {{ grain }} as period,
        sum(effective_cost) as effective_cost,
        sum(billed_cost) as billed_cost
    from focus_charges
    group by billing_account_id, {{ grain }}

),

allocated_by_{{ grain }} as (

    select
        billing_account_id,
        {{ grain }} as period,
        sum(effective_cost) as effective_cost,
        sum(billed_cost) as billed_cost
    from allocation
    group by billing_account_id, {{ grain }}

),

differences_by_{{ grain }} as (

    select
        '{{ grain }}' as grain,
        coalesce(focus.billing_account_id, allocated.billing_account_id) as billing_account_id,
        coalesce(focus.period, allocated.period) as period,
        focus.effective_cost as focus_effective_cost,
        allocated.effective_cost as allocated_effective_cost,
        focus.billed_cost as focus_billed_cost,
        allocated.billed_cost as allocated_billed_cost
    from focus_by_{{ grain }} as focus
    full outer join allocated_by_{{ grain }} as allocated
        on focus.billing_account_id = allocated.billing_account_id
        and focus.period = allocated.period
    where focus.period is null
        or allocated.period is null
        or abs(focus.effective_cost - allocated.effective_cost) >= 0.005
        or abs(focus.billed_cost - allocated.billed_cost) >= 0.005

),
{%- endfor %}

final as (

    select * from differences_by_usage_date
    union all
    select * from differences_by_billing_period_start

)

select * from final
