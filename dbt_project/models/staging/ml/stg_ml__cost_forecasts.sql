with

source as (

    select * from {{ source('ml', 'cost_forecasts') }}

),

renamed as (

    select
        forecast_date,
        series_level,
        series_key,
        currency,
        ds as forecast_day,
        mean as forecast_cost,
        lo_80,
        hi_80,
        lo_95,
        hi_95,
        model,
        is_backfill,
        made_at,
        run_id
    from source

)

select * from renamed
