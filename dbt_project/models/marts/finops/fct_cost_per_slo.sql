{#
    What reliability costs: per service (a product), SLI and month, the service's cost beside its SLO.

    - effective_cost: the product's effective cost of the month, direct + allocated shared (fct_cost_allocation,
      by usage date);
    - attainment = good_events / total_events over the month's SLI days (stg_business__sli_daily); slo_met when
      attainment >= target (seed slo_definitions); nines = -log10(1 - ratio), NULL at 100%;
    - error budget: allowed bad events = (1 - target) x total_events; remaining = allowed - bad, and as a
      percentage of the allowed (negative once the budget is overspent);
    - cost_per_good_event = effective_cost / good_events, the cost of one SLO-compliant request (NULL with no
      good events), and per 1k;
    - daily_cost_per_extra_nine: the slope of the service's daily usage cost (int_product_daily_usage_cost)
      over its daily
      attained nines (least squares, the month's days with at least one bad event), in dollars a day per nine;
      with its r2 and number of days (slope and r2 rounded to 4 decimals: they are estimates). It says how cost and reliability moved together, not what a nine would
      cost to buy, and is NULL "where the data does not allow": fewer than 14 such days, no variation, or a
      fit that is not significant (|t| < 2), so that noise is not reported as a price.
      Usage cost is used because credits, tax and shared pools land on the first of the month.
#}
{#- The fit "allows" a figure with 14 days or more, some variation, and a slope at least twice its standard
    error (|t| >= 2, t^2 = r2 (n - 2) / (1 - r2)), about 95% confidence that cost and nines moved together. -#}
{%- set fit_allows -%}
    nine_days >= 14 and nine_variance > 0 and nine_r2 * (nine_days - 2) >= 4 * (1 - nine_r2)
{%- endset %}

with

slo_definitions as (

    select * from {{ ref('slo_definitions') }}

),

sli_daily as (

    select * from {{ ref('stg_business__sli_daily') }}

),

product_usage as (

    select * from {{ ref('int_product_daily_usage_cost') }}

),

allocation as (

    select * from {{ ref('fct_cost_allocation') }}

),

service_monthly_cost as (

    select
        cast(date_trunc('month', usage_date) as date) as month_start,
        product as service,
        sum(direct_effective_cost) as direct_effective_cost,
        sum(effective_cost) as effective_cost
    from allocation
    where product in (select service from slo_definitions)
    group by all

),

sli_days as (

    select
        cast(sli_daily.date as date) as sli_date,
        cast(date_trunc('month', cast(sli_daily.date as date)) as date) as month_start,
        sli_daily.service,
        sli_daily.sli_name,
        sli_daily.good_events,
        sli_daily.total_events,
        case when sli_daily.good_events < sli_daily.total_events
            then -log10((sli_daily.total_events - sli_daily.good_events) / sli_daily.total_events) end
            as attained_nines,
        coalesce(product_usage.usage_effective_cost, 0) as usage_effective_cost
    from sli_daily
    inner join slo_definitions
        on sli_daily.service = slo_definitions.service
        and sli_daily.sli_name = slo_definitions.sli_name
    left join product_usage
        on cast(sli_daily.date as date) = product_usage.usage_date
        and sli_daily.service = product_usage.product

),

sli_months as (

    select
        month_start,
        service,
        sli_name,
        count(*) as days_measured,
        sum(good_events) as good_events,
        sum(total_events) as total_events,
        regr_slope(usage_effective_cost, attained_nines) as nine_slope,
        regr_r2(usage_effective_cost, attained_nines) as nine_r2,
        regr_count(usage_effective_cost, attained_nines) as nine_days,
        var_pop(attained_nines) as nine_variance
    from sli_days
    group by all

),

measured as (

    select
        sli_months.*,
        slo_definitions.target,
        slo_definitions.window_days,
        sli_months.total_events - sli_months.good_events as bad_events,
        (1 - slo_definitions.target) * sli_months.total_events as allowed_bad_events,
        coalesce(service_monthly_cost.direct_effective_cost, 0) as direct_effective_cost,
        coalesce(service_monthly_cost.effective_cost, 0) as effective_cost
    from sli_months
    inner join slo_definitions
        on sli_months.service = slo_definitions.service
        and sli_months.sli_name = slo_definitions.sli_name
    left join service_monthly_cost
        on sli_months.month_start = service_monthly_cost.month_start
        and sli_months.service = service_monthly_cost.service

),

final as (

    select
        month_start,
        service,
        sli_name,
        cast(target as double) as slo_target,
        cast(window_days as integer) as slo_window_days,
        cast(-log10(1 - target) as double) as target_nines,
        cast(days_measured as integer) as days_measured,
        cast(total_events as bigint) as total_events,
        cast(good_events as bigint) as good_events,
        cast(bad_events as bigint) as bad_events,
        cast(good_events / nullif(total_events, 0) as double) as attainment,
        cast(case when bad_events > 0 then -log10(bad_events / total_events) end as double) as attained_nines,
        good_events >= target * total_events as slo_met,
        cast(allowed_bad_events as double) as error_budget_events,
        cast(allowed_bad_events - bad_events as double) as error_budget_remaining_events,
        cast(100 * (allowed_bad_events - bad_events) / nullif(allowed_bad_events, 0) as double)
            as error_budget_remaining_pct,
        {{ money('direct_effective_cost') }} as direct_effective_cost,
        {{ money('effective_cost') }} as effective_cost,
        cast(effective_cost / nullif(good_events, 0) as double) as cost_per_good_event,
        cast(1000 * effective_cost / nullif(good_events, 0) as double) as cost_per_1k_good_events,
        cast(case when {{ fit_allows }} then round(nine_slope, 4) end as double) as daily_cost_per_extra_nine,
        cast(case when {{ fit_allows }} then round(nine_r2, 4) end as double) as daily_cost_per_extra_nine_r2,
        cast(nine_days as integer) as daily_cost_per_extra_nine_days
    from measured

)

select * from final
