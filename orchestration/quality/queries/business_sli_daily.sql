-- raw.sli_daily over the billing periods from $period_start to $period_end: its rows (service x SLI x day), with
-- the rows per key counted in SQL.
SELECT
    strftime(_billing_period, '%Y-%m') AS billing_period,
    CAST(date AS TIMESTAMP) AS date,
    service,
    sli_name,
    good_events,
    total_events,
    count(*) OVER (PARTITION BY date, service, sli_name) AS rows_of_sli_day,
    CAST(_billing_period AS TIMESTAMP) AS period_start,
    CAST(_billing_period + INTERVAL 1 MONTH AS TIMESTAMP) AS period_end
FROM {table}
WHERE _billing_period >= $period_start AND _billing_period < $period_end
ORDER BY ALL
