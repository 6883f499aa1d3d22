-- marts.fct_focus_charges over the billing periods from $period_start to $period_end, one row per billing
-- period, source family, provider, billing and sub account, currency, charge category, frequency, class,
-- commitment status and origin: every charge counted, none pulled. cur_*_account_id: the accounts of AWS CUR
-- sources (NULL for FOCUS exports, whose ids are the provider's own).
SELECT
    strftime(x_billing_period, '%Y-%m') AS billing_period,
    x_source_family AS source_family,
    ProviderName AS provider,
    BillingAccountId AS billing_account_id,
    SubAccountId AS sub_account_id,
    CASE WHEN x_source_family LIKE 'aws_cur%' THEN BillingAccountId END AS cur_billing_account_id,
    CASE WHEN x_source_family LIKE 'aws_cur%' THEN SubAccountId END AS cur_sub_account_id,
    BillingCurrency AS billing_currency,
    ChargeCategory AS charge_category,
    ChargeFrequency AS charge_frequency,
    ChargeClass AS charge_class,
    CommitmentDiscountStatus AS commitment_discount_status,
    x_charge_origin AS charge_origin,
    count(*) AS charges,
    CAST(sum(BilledCost) AS DOUBLE) AS billed_cost,
    CAST(sum(EffectiveCost) AS DOUBLE) AS effective_cost,
    count(*) FILTER (WHERE BilledCost IS NULL OR EffectiveCost IS NULL OR ListCost IS NULL OR ContractedCost IS NULL)
        AS charges_without_cost,
    count(*) FILTER (WHERE ServiceName IS NULL OR ServiceCategory IS NULL) AS charges_without_service,
    count(*) FILTER (WHERE ChargePeriodEnd < ChargePeriodStart) AS charges_ending_before_start,
    CAST(min(BillingPeriodStart) AT TIME ZONE 'UTC' AS TIMESTAMP) AS first_billing_period_start,
    CAST(max(BillingPeriodStart) AT TIME ZONE 'UTC' AS TIMESTAMP) AS last_billing_period_start,
    CAST(max(ChargePeriodEnd) AT TIME ZONE 'UTC' AS TIMESTAMP) AS last_charge_end,
    CAST(x_billing_period AS TIMESTAMP) AS period_start,
    CAST(x_billing_period + INTERVAL 1 MONTH AS TIMESTAMP) AS period_end
FROM {table}
WHERE x_billing_period >= $period_start AND x_billing_period < $period_end
GROUP BY ALL
ORDER BY ALL
