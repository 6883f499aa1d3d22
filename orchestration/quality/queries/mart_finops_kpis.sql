-- marts.fct_finops_kpis over the billing periods from $period_start to $period_end: its rows (the organization
-- and each team), with whether the team column fits the scope and the organization rows per period.
SELECT
    strftime(billing_period_start, '%Y-%m') AS billing_period,
    scope,
    team,
    (scope = 'organization') = (team IS NULL) AS team_fits_scope,
    count(*) FILTER (WHERE scope = 'organization') OVER (PARTITION BY billing_period_start) AS organization_rows,
    CAST(effective_cost AS DOUBLE) AS effective_cost,
    unallocated_pct,
    tag_coverage_pct,
    budget_alert_level,
    forecast_accuracy_pct,
    incident_count,
    anomaly_count
FROM {table}
WHERE billing_period_start >= $period_start AND billing_period_start < $period_end
ORDER BY ALL
