{#
    One row per calendar day from the first to the last day the charges touch (usage dates and billing
    period starts), with its month, quarter, ISO weekday and week.
#}
with

charges as (

    select * from {{ ref('fct_focus_charges') }}

),

bounds as (

    select
        least(min(cast(ChargePeriodStart as date)), min(cast(BillingPeriodStart as date))) as first_day,
        greatest(max(cast(ChargePeriodStart as date)), max(cast(BillingPeriodStart as date))) as last_day
    from charges

),

days as (

    select {{ date_series('first_day', 'last_day') }} as date_day
    from bounds
    where first_day is not null

),

final as (

    select
        date_day,
        cast(extract(year from date_day) as integer) as year,
        cast(extract(quarter from date_day) as integer) as quarter_of_year,
        cast(date_trunc('quarter', date_day) as date) as quarter_start,
        cast(extract(year from date_day) as string) || '-Q' || cast(extract(quarter from date_day) as string) as year_quarter,
        cast(extract(month from date_day) as integer) as month_of_year,
        cast(date_trunc('month', date_day) as date) as month_start,
        case extract(month from date_day)
            when 1 then 'January' when 2 then 'February' when 3 then 'March' when 4 then 'April'
            when 5 then 'May' when 6 then 'June' when 7 then 'July' when 8 then 'August'
            when 9 then 'September' when 10 then 'October' when 11 then 'November' when 12 then 'December'
        end as month_name,
        cast(extract(day from date_day) as integer) as day_of_month,
        cast({{ iso_day_of_week('date_day') }} as integer) as day_of_week,
        case {{ iso_day_of_week('date_day') }}
            when 1 then 'Monday' when 2 then 'Tuesday' when 3 then 'Wednesday' when 4 then 'Thursday'
            when 5 then 'Friday' when 6 then 'Saturday' when 7 then 'Sunday'
        end as weekday_name,
        {{ iso_day_of_week('date_day') }} in (6, 7) as is_weekend,
        cast(extract(week from date_day) as integer) as iso_week
    from days

)

select * from final
