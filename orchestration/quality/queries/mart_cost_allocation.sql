-- marts.fct_cost_allocation over the billing periods from $period_start to $period_end, one row per billing
-- period, team, product, cost center, allocation method and currency, with the sums that must add up.
SELECT
    strftime(billing_period_start, '%Y-%m') AS billing_period,
    team,
    product,
    cost_center,
    allocation_method,
    billing_currency,
    count(*) AS allocation_rows,
    CAST(sum(effective_cost) AS DOUBLE) AS effective_cost,
    CAST(sum(billed_cost) AS DOUBLE) AS billed_cost,
    CAST(sum(effective_cost - direct_effective_cost - shared_effective_cost) AS DOUBLE) AS effective_cost_residual,
    CAST(sum(billed_cost - direct_billed_cost - shared_billed_cost) AS DOUBLE) AS billed_cost_residual,
    count(*) FILTER (WHERE billing_account_id IS NULL OR service_name IS NULL OR usage_date IS NULL)
        AS rows_without_keys,
    count(*) FILTER (WHERE effective_cost IS NULL OR billed_cost IS NULL) AS rows_without_cost,
    CAST(max(usage_date) AS TIMESTAMP) AS last_usage_date,
    CAST(billing_period_start + INTERVAL 1 MONTH AS TIMESTAMP) AS period_end
FROM {table}
WHERE billing_period_start >= $period_start AND billing_period_start < $period_end
GROUP BY ALL
ORDER BY ALL
