{#
    Cost anomaly episodes: a service's daily usage cost in one sub account departing from its robust
    same-weekday baseline (python_models.anomaly), merged into episodes with their dollar and percent impact,
    severity, status, and root causes ranked by their dollar contribution (resource, usage type, region,
    team; the narrowest value that explains at least 80% of the impact first).
#}
with

anomalies as (

    select * from {{ ref('stg_ml__cost_anomalies') }}

),

final as (

    select
        anomaly_id,
        cast(date_trunc('month', start_date) as date) as billing_period_start,
        service_name,
        sub_account_id,
        currency,
        start_date,
        end_date,
        cast(days as integer) as days,
        cast(actual_cost as decimal(38, 6)) as actual_cost,
        cast(expected_cost as decimal(38, 6)) as expected_cost,
        cast(actual_cost as decimal(38, 6)) - cast(expected_cost as decimal(38, 6)) as impact,
        cast(impact_pct as double) as impact_pct,
        peak_date,
        cast(peak_impact as decimal(38, 6)) as peak_impact,
        cast(max_score as double) as max_score,
        direction,
        severity,
        status,
        top_cause_dimension,
        top_cause_value,
        cast(top_cause_share as double) as top_cause_share,
        primary_team,
        cast(root_causes as {{ json_type() }}) as root_causes,
        cast(root_cause_count as integer) as root_cause_count,
        first_detected_at,
        scored_at
    from anomalies

)

select * from final
