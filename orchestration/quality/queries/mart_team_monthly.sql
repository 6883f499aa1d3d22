-- A team x month invoice mart (marts.fct_showback_monthly, marts.fct_chargeback_monthly) over the billing
-- periods from $period_start to $period_end: its rows as they are (one per team), with the residuals of the
-- sums that must add up and each period's total share.
SELECT
    strftime(billing_period_start, '%Y-%m') AS billing_period,
    team,
    cost_center,
    billing_currency,
    allocation_methods,
    CAST(direct_cost AS DOUBLE) AS direct_cost,
    CAST(shared_cost AS DOUBLE) AS shared_cost,
    CAST(unallocated_cost AS DOUBLE) AS unallocated_cost,
    CAST(total_cost AS DOUBLE) AS total_cost,
    CAST(total_cost - direct_cost - shared_cost - unallocated_cost AS DOUBLE) AS total_residual,
    CAST(direct_cost - direct_tag_cost - direct_account_cost AS DOUBLE) AS direct_residual,
    CAST(shared_cost - shared_even_cost - shared_proportional_cost - shared_driver_cost - shared_fixed_cost AS DOUBLE)
        AS shared_residual,
    CAST(period_share_pct AS DOUBLE) AS period_share_pct,
    CAST(sum(period_share_pct) OVER (PARTITION BY billing_period_start, billing_currency) AS DOUBLE)
        AS period_share_total
FROM {table}
WHERE billing_period_start >= $period_start AND billing_period_start < $period_end
ORDER BY ALL
