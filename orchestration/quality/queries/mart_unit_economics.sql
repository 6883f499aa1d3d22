-- marts.fct_unit_economics over the billing periods from $period_start to $period_end: its rows (product x day
-- and product x month), with the residuals of what must add up: direct + shared cost, cost per unit x volume,
-- and each month row against the sum of its days.
SELECT
    strftime(date_trunc('month', period_start), '%Y-%m') AS billing_period,
    period_grain,
    CAST(period_start AS TIMESTAMP) AS period_start,
    product,
    CAST(effective_cost AS DOUBLE) AS effective_cost,
    CAST(effective_cost - direct_effective_cost - shared_effective_cost AS DOUBLE) AS cost_residual,
    requests,
    transactions,
    cost_per_request,
    cost_per_transaction,
    CASE WHEN transactions > 0 THEN cost_per_transaction - CAST(effective_cost AS DOUBLE) / transactions END
        AS cost_per_transaction_residual,
    CASE WHEN coalesce(transactions, 0) = 0 AND cost_per_transaction IS NOT NULL THEN 1 ELSE 0 END
        AS cost_per_transaction_without_volume,
    CASE WHEN period_grain = 'month' THEN CAST(effective_cost - sum(effective_cost) FILTER (WHERE period_grain = 'day')
        OVER (PARTITION BY product, date_trunc('month', period_start)) AS DOUBLE) END AS month_minus_days
FROM {table}
WHERE period_start >= $period_start AND period_start < $period_end
ORDER BY ALL
