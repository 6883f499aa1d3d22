{#
    Budget burn: for each team with a budget or cost, each billing month and each day of the month the data
    reaches so far, the month-to-date amortized (effective) cost against the team's monthly budget.

    - mtd_effective_cost: the team's effective cost (direct + shared, fct_cost_allocation) from the first
      day of the billing month through as_of_date;
    - daily_burn_rate = mtd_effective_cost / days_elapsed; projected_month_end = daily_burn_rate x days in
      the month (a straight-line projection);
    - budget_consumed_pct = 100 x mtd_effective_cost / budget_amount, projected_consumed_pct likewise with
      the projection;
    - alert_level: the highest threshold month-to-date cost has reached: '100%' (over budget), '75%',
      '50%', else 'under 50%'; 'no budget' when the team has none for the month.
    is_latest marks each team's last day of each month, the current state of that month.
#}
with

allocation as (

    select * from {{ ref('fct_cost_allocation') }}

),

budgets as (

    select * from {{ ref('budgets') }}

),

daily_cost as (

    select billing_period_start, usage_date, team, sum(effective_cost) as effective_cost
    from allocation
    where usage_date >= billing_period_start
    group by all

),

month_days as (

    -- Every day of each billing month from its first day to the last day the data reaches in that month.
    select
        billing_period_start,
        {{ date_series('billing_period_start', 'max(usage_date)') }} as as_of_date
    from daily_cost
    group by billing_period_start

),

team_months as (

    select distinct billing_period_start, team from daily_cost
    union
    select budgets.month as billing_period_start, budgets.team
    from budgets
    where budgets.month in (select billing_period_start from month_days)

),

days as (

    select team_months.team, month_days.billing_period_start, month_days.as_of_date
    from team_months
    inner join month_days on team_months.billing_period_start = month_days.billing_period_start

),

cumulated as (

    select
        days.team,
        days.billing_period_start,
        days.as_of_date,
        sum(coalesce(daily_cost.effective_cost, 0)) over (
            partition by days.team, days.billing_period_start order by days.as_of_date
        ) as mtd_effective_cost
    from days
    left join daily_cost
        on days.team = daily_cost.team
        and days.billing_period_start = daily_cost.billing_period_start
        and days.as_of_date = daily_cost.usage_date

),

measured as (

    select
        cumulated.*,
        budgets.budget_amount,
        budgets.currency as budget_currency,
        datediff('day', cumulated.billing_period_start, cumulated.as_of_date) + 1 as days_elapsed,
        datediff('day', cumulated.billing_period_start,
                 cumulated.billing_period_start + interval 1 month) as days_in_month
    from cumulated
    left join budgets
        on cumulated.team = budgets.team
        and cumulated.billing_period_start = budgets.month

),

final as (

    select
        billing_period_start,
        as_of_date,
        team,
        cast(days_elapsed as integer) as days_elapsed,
        cast(days_in_month as integer) as days_in_month,
        cast(budget_amount as decimal(38, 18)) as budget_amount,
        budget_currency,
        cast(mtd_effective_cost as decimal(38, 18)) as mtd_effective_cost,
        cast(mtd_effective_cost / days_elapsed as decimal(38, 18)) as daily_burn_rate,
        cast(mtd_effective_cost / days_elapsed * days_in_month as decimal(38, 18)) as projected_month_end,
        cast(100 * mtd_effective_cost / nullif(budget_amount, 0) as double) as budget_consumed_pct,
        cast(100 * (mtd_effective_cost / days_elapsed * days_in_month) / nullif(budget_amount, 0) as double)
            as projected_consumed_pct,
        {{ budget_alert_level('mtd_effective_cost', 'budget_amount') }} as alert_level,
        as_of_date = max(as_of_date) over (partition by team, billing_period_start) as is_latest
    from measured

)

select * from final
