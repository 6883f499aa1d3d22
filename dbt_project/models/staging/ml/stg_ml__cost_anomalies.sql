{#
    Anomaly episodes, with the service and sub account split out of the series key ("<service> @ <sub
    account>") and the root causes parsed from their JSON list (largest first; see orchestration/predictions.py).
#}
with

source as (

    select * from {{ source('ml', 'cost_anomalies') }}

),

parsed as (

    select
        *,
        {{ json_struct_list('root_causes', [
            ('dimension', 'varchar'), ('value', 'varchar'), ('impact', 'double'), ('share', 'double')]) }} as causes
    from source

),

renamed as (

    select
        anomaly_id,
        series_level,
        regexp_extract(series_key, '^(.*) @ ([^@]*)$', 1) as service_name,
        regexp_extract(series_key, '^(.*) @ ([^@]*)$', 2) as sub_account_id,
        currency,
        start_date,
        end_date,
        days,
        actual_cost,
        expected_cost,
        impact,
        impact_pct,
        peak_date,
        peak_impact,
        max_score,
        direction,
        severity,
        status,
        {{ list_element('causes', 1) }}.dimension as top_cause_dimension,
        {{ list_element('causes', 1) }}.value as top_cause_value,
        {{ list_element('causes', 1) }}.share as top_cause_share,
        -- the team whose tagged usage moved most; untagged usage names no team
        {{ list_element(list_filter('causes', "c -> c.dimension = 'team' and c.value <> '(untagged)'"), 1) }}.value
            as primary_team,
        root_causes,
        {{ list_length('causes') }} as root_cause_count,
        first_detected_at,
        scored_at
    from parsed

)

select * from renamed
