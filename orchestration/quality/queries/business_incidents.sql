-- raw.incidents over the billing periods from $period_start to $period_end (the month each incident started):
-- its rows, with the rows per incident id counted in SQL.
SELECT
    strftime(_billing_period, '%Y-%m') AS billing_period,
    incident_id,
    started_at,
    ended_at,
    affected_service,
    severity,
    count(*) OVER (PARTITION BY incident_id) AS rows_of_incident
FROM {table}
WHERE _billing_period >= $period_start AND _billing_period < $period_end
ORDER BY ALL
