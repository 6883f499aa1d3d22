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
    - forecast_month_end: month-to-date cost + the spend forecast (python_models.forecasting, through
      fct_cost_forecasts) of the team for the rest of the month, from the latest forecast made on or before
      as_of_date (at the earliest at the end of the month before); forecast_month_end_lo_80 / _hi_80 add the
      daily 80% bounds instead (a sum of daily bounds: wider than the month total's own 80% interval, never
      narrower). NULL where no forecast exists.
    is_latest marks each team's last day of each month, the current state of that month.
#}
{#- The dimensions its relationships tests read: declared so that a build split around the Python models
    runs those tests in the step that builds this mart (dbt's "buildable" selection runs a test once every
    model it reads is selected or upstream of the selection). #}
-- depends_on: {{ ref('dim_teams') }}
with

allocation as (

    select * from {{ ref('fct_cost_allocation') }}

),

budgets as (

    select * from {{ ref('budgets') }}

),

team_forecasts as (

    select forecast_date, series_key as team, forecast_day, forecast_cost, lo_80, hi_80
    from {{ ref('stg_ml__cost_forecasts') }}
    where series_level = 'team'

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
        {{ date_difference('day', 'cumulated.billing_period_start', 'cumulated.as_of_date') }} + 1 as days_elapsed,
        {{ date_difference('day', 'cumulated.billing_period_start',
                           'cumulated.billing_period_start + interval 1 month') }} as days_in_month
    from cumulated
    left join budgets
        on cumulated.team = budgets.team
        and cumulated.billing_period_start = budgets.month

),

forecast_used as (

    -- the latest forecast made on or before the day, and no earlier than the end of the month before
    select measured.team, measured.billing_period_start, measured.as_of_date, max(made.forecast_date) as forecast_date
    from measured
    inner join (select distinct team, forecast_date from team_forecasts) as made
        on measured.team = made.team
        and made.forecast_date <= measured.as_of_date
        and made.forecast_date >= measured.billing_period_start - interval 1 day
    group by all

),

rest_of_month as (

    select
        forecast_used.team,
        forecast_used.as_of_date,
        forecast_used.forecast_date,
        -- each day at the precision fct_cost_forecasts publishes, so the two marts add up alike
        sum(cast(team_forecasts.forecast_cost as decimal(38, 6))) as forecast_rest,
        sum(cast(team_forecasts.lo_80 as decimal(38, 6))) as forecast_rest_lo_80,
        sum(cast(team_forecasts.hi_80 as decimal(38, 6))) as forecast_rest_hi_80
    from forecast_used
    left join team_forecasts
        on forecast_used.team = team_forecasts.team
        and forecast_used.forecast_date = team_forecasts.forecast_date
        and team_forecasts.forecast_day > forecast_used.as_of_date
        and team_forecasts.forecast_day < forecast_used.billing_period_start + interval 1 month
    group by all

),

forecast as (

    select
        measured.*,
        rest_of_month.forecast_date,
        measured.mtd_effective_cost + coalesce(rest_of_month.forecast_rest, 0) as forecast_month_end,
        measured.mtd_effective_cost + coalesce(rest_of_month.forecast_rest_lo_80, 0) as forecast_month_end_lo_80,
        measured.mtd_effective_cost + coalesce(rest_of_month.forecast_rest_hi_80, 0) as forecast_month_end_hi_80
    from measured
    left join rest_of_month
        on measured.team = rest_of_month.team
        and measured.as_of_date = rest_of_month.as_of_date

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
        forecast_date as forecast_made_on,
        case when forecast_date is not null then {{ money('forecast_month_end') }} end as forecast_month_end,
        case when forecast_date is not null then {{ money('forecast_month_end_lo_80') }} end
            as forecast_month_end_lo_80,
        case when forecast_date is not null then {{ money('forecast_month_end_hi_80') }} end
            as forecast_month_end_hi_80,
        case when forecast_date is not null then
            cast(100 * forecast_month_end / nullif(budget_amount, 0) as double)
        end as forecast_consumed_pct,
        as_of_date = max(as_of_date) over (partition by team, billing_period_start) as is_latest
    from forecast

)

select * from final
