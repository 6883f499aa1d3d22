-- AWS CUR line items (legacy CSV, Athena parquet, CUR 2.0: the same snake_case columns) of the billing
-- periods from $period_start to $period_end, one row per billing period, payer account, usage account,
-- currency and line item type: every line item counted, none pulled.
SELECT
    strftime(_billing_period, '%Y-%m') AS billing_period,
    bill_payer_account_id AS payer_account_id,
    line_item_usage_account_id AS usage_account_id,
    line_item_currency_code AS currency,
    line_item_line_item_type AS line_item_type,
    count(*) AS line_items,
    CAST(sum(line_item_unblended_cost) AS DOUBLE) AS unblended_cost,
    count(*) FILTER (WHERE identity_line_item_id IS NULL) AS line_items_without_id,
    count(*) FILTER (WHERE line_item_unblended_cost IS NULL) AS line_items_without_cost,
    count(*) FILTER (WHERE line_item_usage_start_date IS NULL OR line_item_usage_end_date IS NULL)
        AS line_items_without_dates,
    count(*) FILTER (WHERE line_item_usage_end_date < line_item_usage_start_date) AS line_items_ending_before_start,
    min(bill_billing_period_start_date) AS first_bill_period_start,
    max(bill_billing_period_start_date) AS last_bill_period_start,
    max(line_item_usage_end_date) AS last_usage_end,
    CAST(_billing_period AS TIMESTAMP) AS period_start,
    CAST(_billing_period + INTERVAL 1 MONTH AS TIMESTAMP) AS period_end
FROM {table}
WHERE _billing_period >= $period_start AND _billing_period < $period_end
GROUP BY ALL
ORDER BY ALL
