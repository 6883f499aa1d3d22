-- raw.invoices over the billing periods from $period_start to $period_end, one row per billing period, billing
-- account, provider and currency: invoices counted, totals summed, duplicate invoice ids counted.
SELECT
    strftime(_billing_period, '%Y-%m') AS billing_period,
    billing_account_id,
    CASE WHEN provider = 'AWS' THEN billing_account_id END AS aws_billing_account_id,
    provider,
    currency,
    count(*) AS invoices,
    CAST(sum(total) AS DOUBLE) AS total,
    count(*) FILTER (WHERE invoice_id IS NULL) AS invoices_without_id,
    count(*) FILTER (WHERE total IS NULL) AS invoices_without_total,
    count(invoice_id) - count(DISTINCT invoice_id) AS duplicate_invoice_ids,
    CAST(min(billing_period) AS TIMESTAMP) AS first_invoice_period,
    CAST(max(billing_period) AS TIMESTAMP) AS last_invoice_period,
    min(issued_at) AS first_issued_at,
    CAST(_billing_period AS TIMESTAMP) AS period_start
FROM {table}
WHERE _billing_period >= $period_start AND _billing_period < $period_end
GROUP BY ALL
ORDER BY ALL
