{#
    What each incident cost: the affected service's spend during the incident above what it was expected to
    spend (stg_business__incidents; a service is a product).

    - incident days: the UTC dates from started_at to ended_at, whole days, since billing data is daily;
    - actual_cost: the service's own usage cost on the incident days (int_product_daily_usage_cost: Usage
      charges it owns directly); credits and monthly charges, which land on the first of the month, and shared
      pools, which follow other teams' cost, are left out;
    - expected_cost: per incident day, the mean usage cost of the same weekday 1, 2, 3 and 4 weeks before
      (weekly seasonality), skipping days that are themselves incident days of the service and days before the
      service's first cost; summed over the incident days;
    - excess_cost = actual_cost - expected_cost (negative when the incident saved money), excess_pct =
      excess / expected x 100; both NULL when an incident day has no reference day ("where the data allows");
    - team: the service's owner on the start day (int_product_owners_daily).
#}
with

incidents as (

    select * from {{ ref('stg_business__incidents') }}

),

product_usage as (

    select * from {{ ref('int_product_daily_usage_cost') }}

),

product_owners as (

    select * from {{ ref('int_product_owners_daily') }}

),

service_daily_cost as (

    select usage_date, product as service, usage_effective_cost
    from product_usage
    where product in (select affected_service from incidents)

),

service_first_day as (

    select service, min(usage_date) as first_day
    from service_daily_cost
    group by service

),

incident_days as (

    select
        incident_id,
        affected_service as service,
        {{ date_series('started_at', 'ended_at') }} as incident_date
    from incidents

),

any_incident_day as (

    select distinct service, incident_date from incident_days

),

reference_days as (

    select
        incident_days.incident_id,
        incident_days.incident_date,
        incident_days.service,
        incident_days.incident_date - weeks_back * 7 as reference_date
    from incident_days
    cross join (select {{ integer_range(1, 5) }} as weeks_back) as weeks
    inner join service_first_day
        on incident_days.service = service_first_day.service
        and incident_days.incident_date - weeks_back * 7 >= service_first_day.first_day
    where not exists (
        select 1 from any_incident_day
        where any_incident_day.service = incident_days.service
            and any_incident_day.incident_date = incident_days.incident_date - weeks_back * 7
    )

),

expected_days as (

    select
        reference_days.incident_id,
        reference_days.incident_date,
        count(*) as reference_day_count,
        {{ money('sum(coalesce(service_daily_cost.usage_effective_cost, 0)) / count(*)') }} as expected_cost
    from reference_days
    left join service_daily_cost
        on reference_days.service = service_daily_cost.service
        and reference_days.reference_date = service_daily_cost.usage_date
    group by all

),

costed_days as (

    select
        incident_days.incident_id,
        incident_days.incident_date,
        coalesce(service_daily_cost.usage_effective_cost, 0) as actual_cost,
        expected_days.expected_cost,
        coalesce(expected_days.reference_day_count, 0) as reference_day_count
    from incident_days
    left join service_daily_cost
        on incident_days.service = service_daily_cost.service
        and incident_days.incident_date = service_daily_cost.usage_date
    left join expected_days
        on incident_days.incident_id = expected_days.incident_id
        and incident_days.incident_date = expected_days.incident_date

),

per_incident as (

    select
        incident_id,
        count(*) as incident_days,
        min(reference_day_count) as min_reference_days,
        sum(actual_cost) as actual_cost,
        case when bool_and(expected_cost is not null) then sum(expected_cost) end as expected_cost
    from costed_days
    group by incident_id

),

final as (

    select
        incidents.incident_id,
        incidents.affected_service as service,
        product_owners.team,
        incidents.severity,
        incidents.summary,
        incidents.started_at,
        incidents.ended_at,
        cast(date_trunc('month', incidents.started_at) as date) as month_start,
        cast({{ date_difference('second', 'incidents.started_at', 'incidents.ended_at') }} / 3600 as double) as duration_hours,
        cast(per_incident.incident_days as integer) as incident_days,
        cast(per_incident.min_reference_days as integer) as min_reference_days,
        {{ money('per_incident.actual_cost') }} as actual_cost,
        {{ money('per_incident.expected_cost') }} as expected_cost,
        {{ money('per_incident.actual_cost - per_incident.expected_cost') }} as excess_cost,
        cast(100 * (per_incident.actual_cost - per_incident.expected_cost)
            / nullif(per_incident.expected_cost, 0) as double) as excess_pct
    from incidents
    inner join per_incident
        on incidents.incident_id = per_incident.incident_id
    left join product_owners
        on incidents.affected_service = product_owners.product
        and cast(incidents.started_at as date) = product_owners.date_day

)

select * from final
