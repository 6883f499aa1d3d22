-- marts.fct_budget_burn over the billing periods from $period_start to $period_end: its rows (team x day), with
-- the number of latest rows per team and month computed in SQL.
SELECT
    strftime(billing_period_start, '%Y-%m') AS billing_period,
    team,
    CAST(as_of_date AS TIMESTAMP) AS as_of_date,
    days_elapsed,
    days_in_month,
    date_diff('day', billing_period_start, as_of_date) + 1 AS day_of_period,
    alert_level,
    is_latest,
    CAST(budget_amount AS DOUBLE) AS budget_amount,
    CAST(mtd_effective_cost AS DOUBLE) AS mtd_effective_cost,
    budget_consumed_pct,
    count(*) FILTER (WHERE is_latest) OVER (PARTITION BY billing_period_start, team) AS latest_rows_of_team,
    CAST(billing_period_start AS TIMESTAMP) AS period_start,
    CAST(billing_period_start + INTERVAL 1 MONTH AS TIMESTAMP) AS period_end
FROM {table}
WHERE billing_period_start >= $period_start AND billing_period_start < $period_end
ORDER BY ALL
