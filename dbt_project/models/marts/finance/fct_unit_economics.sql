{#
    Unit economics per product, per day and per billing month: cost per unit = (direct + allocated shared
    effective cost) / driver volume, for three drivers (stg_business__unit_drivers): requests, transactions and active
    customers. A period with zero (or no) volume yields NULL, never a division error.

    - period_grain 'day': the product's cost on usage_date, over that day's volumes;
    - period_grain 'month': the product's cost of the billing month, over the month's total requests and
      transactions, and over its average daily active customers (daily active counts cannot be summed);
    cost_per_1k_requests is given too, since single-request costs are tiny. Unit costs are ratios, so DOUBLE;
    the costs they divide stay exact DECIMAL.
#}
with

allocation as (

    select * from {{ ref('fct_cost_allocation') }}

),

drivers as (

    select * from {{ ref('stg_business__unit_drivers') }}

),

daily_cost as (

    select usage_date, billing_period_start, product, sum(effective_cost) as effective_cost,
        sum(direct_effective_cost) as direct_effective_cost, sum(shared_effective_cost) as shared_effective_cost
    from allocation
    where product in (select distinct product from drivers)
    group by all

),

days as (

    select
        'day' as period_grain,
        coalesce(daily_cost.usage_date, drivers.date) as period_start,
        coalesce(daily_cost.product, drivers.product) as product,
        coalesce(daily_cost.direct_effective_cost, 0) as direct_effective_cost,
        coalesce(daily_cost.shared_effective_cost, 0) as shared_effective_cost,
        coalesce(daily_cost.effective_cost, 0) as effective_cost,
        drivers.requests,
        drivers.transactions,
        cast(drivers.active_customers as double) as active_customers
    from daily_cost
    full outer join drivers
        on daily_cost.usage_date = drivers.date
        and daily_cost.product = drivers.product

),

months as (

    select
        'month' as period_grain,
        cast(date_trunc('month', period_start) as date) as period_start,
        product,
        sum(direct_effective_cost) as direct_effective_cost,
        sum(shared_effective_cost) as shared_effective_cost,
        sum(effective_cost) as effective_cost,
        sum(requests) as requests,
        sum(transactions) as transactions,
        avg(active_customers) as active_customers
    from days
    group by all

),

periods as (

    select * from days
    union all
    select * from months

),

final as (

    select
        period_grain,
        period_start,
        product,
        cast(direct_effective_cost as decimal(38, 18)) as direct_effective_cost,
        cast(shared_effective_cost as decimal(38, 18)) as shared_effective_cost,
        cast(effective_cost as decimal(38, 18)) as effective_cost,
        cast(requests as bigint) as requests,
        cast(transactions as bigint) as transactions,
        active_customers,
        cast(effective_cost / nullif(requests, 0) as double) as cost_per_request,
        cast(1000 * effective_cost / nullif(requests, 0) as double) as cost_per_1k_requests,
        cast(effective_cost / nullif(transactions, 0) as double) as cost_per_transaction,
        cast(effective_cost / nullif(active_customers, 0) as double) as cost_per_active_customer
    from periods

)

select * from final
