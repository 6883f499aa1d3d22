-- raw.unit_drivers over the billing periods from $period_start to $period_end: its rows (product x day), with the
-- rows per product and day counted in SQL.
SELECT
    strftime(_billing_period, '%Y-%m') AS billing_period,
    CAST(date AS TIMESTAMP) AS date,
    product,
    requests,
    transactions,
    active_customers,
    count(*) OVER (PARTITION BY date, product) AS rows_of_product_day,
    CAST(_billing_period AS TIMESTAMP) AS period_start,
    CAST(_billing_period + INTERVAL 1 MONTH AS TIMESTAMP) AS period_end
FROM {table}
WHERE _billing_period >= $period_start AND _billing_period < $period_end
ORDER BY ALL
