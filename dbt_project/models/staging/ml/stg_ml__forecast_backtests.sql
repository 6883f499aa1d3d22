with

source as (

    select * from {{ source('ml', 'forecast_backtests') }}

),

renamed as (

    select
        forecast_date,
        series_level,
        series_key,
        currency,
        model,
        mase,
        smape,
        wape,
        bias,
        coverage_80,
        coverage_95
    from source

)

select * from renamed
