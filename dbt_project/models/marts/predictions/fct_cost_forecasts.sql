{#
    Spend forecasts: every forecast tfm made (forecast_date = the last day of actual cost it used), per
    series and future day, with its 80% and 95% prediction intervals, the model the rolling-origin backtest
    chose for the series and that backtest's accuracy, beside the actual cost once the day is known.
    is_latest_forecast marks the most recent forecast; is_backfill the forecasts made later from the data up
    to their date (the month ends before the first run), so that every month has a month-ahead forecast.
#}
with

forecasts as (

    select * from {{ ref('stg_ml__cost_forecasts') }}

),

backtests as (

    select * from {{ ref('stg_ml__forecast_backtests') }}

),

actuals as (

    select * from {{ ref('fct_daily_cost_series') }}

),

known_through as (

    select max(usage_date) as last_actual_day from actuals

),

final as (

    select
        forecasts.forecast_date,
        forecasts.series_level,
        forecasts.series_key,
        forecasts.currency,
        forecasts.forecast_day,
        cast({{ date_difference('day', 'forecasts.forecast_date', 'forecasts.forecast_day') }} as integer) as days_ahead,
        forecasts.forecast_date = max(forecasts.forecast_date) over () as is_latest_forecast,
        cast(forecasts.forecast_cost as decimal(38, 6)) as forecast_cost,
        cast(forecasts.lo_80 as decimal(38, 6)) as forecast_lo_80,
        cast(forecasts.hi_80 as decimal(38, 6)) as forecast_hi_80,
        cast(forecasts.lo_95 as decimal(38, 6)) as forecast_lo_95,
        cast(forecasts.hi_95 as decimal(38, 6)) as forecast_hi_95,
        case
            when forecasts.forecast_day <= known_through.last_actual_day
                then {{ money('coalesce(actuals.effective_cost, 0)') }}
        end as actual_cost,
        forecasts.model,
        cast(backtests.mase as double) as backtest_mase,
        cast(backtests.smape as double) as backtest_smape,
        cast(backtests.wape as double) as backtest_wape,
        cast(backtests.bias as double) as backtest_bias,
        cast(backtests.coverage_80 as double) as backtest_coverage_80,
        cast(backtests.coverage_95 as double) as backtest_coverage_95,
        forecasts.is_backfill,
        forecasts.made_at
    from forecasts
    cross join known_through
    left join backtests
        on forecasts.forecast_date = backtests.forecast_date
        and forecasts.series_level = backtests.series_level
        and forecasts.series_key = backtests.series_key
        and forecasts.currency = backtests.currency
    left join actuals
        on forecasts.series_level = actuals.series_level
        and forecasts.series_key = actuals.series_key
        and forecasts.currency = actuals.currency
        and forecasts.forecast_day = actuals.usage_date

)

select * from final
