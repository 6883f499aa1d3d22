{{ config(severity = 'error') }}
{#
    Per billing period and currency, the chargeback's total_cost adds up to the FOCUS BilledCost and the
    showback's to the FOCUS EffectiveCost, to the cent; and each statement row's parts add up to its total.
#}
with

focus_totals as (

    select
        cast(BillingPeriodStart as date) as billing_period_start,
        BillingCurrency as billing_currency,
        sum(BilledCost) as billed_cost,
        sum(EffectiveCost) as effective_cost
    from {{ ref('fct_focus_charges') }}
    group by cast(BillingPeriodStart as date), BillingCurrency

),

{%- for statement, measure in [('chargeback', 'billed_cost'), ('showback', 'effective_cost')] %}

{{ statement }} as (

    select * from {{ ref('fct_' ~ statement ~ '_monthly') }}

),

{{ statement }}_totals as (

    select
        billing_period_start,
        billing_currency,
        sum(total_cost) as total_cost
    from {{ statement }}
    group by billing_period_start, billing_currency

),

{{ statement }}_differences as (

    select
        '{{ statement }}' as statement,
        coalesce(focus_totals.billing_period_start, {{ statement }}_totals.billing_period_start) as billing_period_start,
        coalesce(focus_totals.billing_currency, {{ statement }}_totals.billing_currency) as billing_currency,
        cast(null as string) as team,
        focus_totals.{{ measure }} as expected,
        {{ statement }}_totals.total_cost as actual
    from focus_totals
    full outer join {{ statement }}_totals
        on focus_totals.billing_period_start = {{ statement }}_totals.billing_period_start
        and focus_totals.billing_currency = {{ statement }}_totals.billing_currency
    where focus_totals.billing_period_start is null
        or {{ statement }}_totals.billing_period_start is null
        or abs(focus_totals.{{ measure }} - {{ statement }}_totals.total_cost) >= 0.005

    union all

    select
        '{{ statement }}' as statement,
        billing_period_start,
        billing_currency,
        team,
        total_cost as expected,
        direct_cost + shared_cost + unallocated_cost as actual
    from {{ statement }}
    where direct_cost + shared_cost + unallocated_cost <> total_cost
        or direct_tag_cost + direct_account_cost <> direct_cost
        or shared_even_cost + shared_proportional_cost + shared_driver_cost + shared_fixed_cost <> shared_cost

),
{%- endfor %}

final as (

    select * from chargeback_differences
    union all
    select * from showback_differences

)

select * from final
