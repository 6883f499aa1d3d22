-- FOCUS export rows (1.0-1.2, as loaded) of the billing periods from $period_start to $period_end, one row per
-- billing period, provider, billing account, currency, charge category, frequency and class. Closed values
-- are read the way tfm reads them (case, spaces, dashes and underscores aside: the FinOps Foundation's sample
-- writes "Usage-based"); a value tfm cannot read stays as it is.
WITH charges AS (
    SELECT
        *,
        lower(regexp_replace(trim(ChargeCategory), '[\s_-]+', '', 'g')) AS category_key,
        lower(regexp_replace(trim(ChargeFrequency), '[\s_-]+', '', 'g')) AS frequency_key,
        lower(regexp_replace(trim(ChargeClass), '[\s_-]+', '', 'g')) AS class_key
    FROM {table}
    WHERE _billing_period >= $period_start AND _billing_period < $period_end
)
SELECT
    strftime(_billing_period, '%Y-%m') AS billing_period,
    ProviderName AS provider,
    BillingAccountId AS billing_account_id,
    BillingCurrency AS billing_currency,
    CASE category_key WHEN 'usage' THEN 'Usage' WHEN 'purchase' THEN 'Purchase' WHEN 'tax' THEN 'Tax'
        WHEN 'credit' THEN 'Credit' WHEN 'adjustment' THEN 'Adjustment' ELSE ChargeCategory END AS charge_category,
    CASE frequency_key WHEN 'onetime' THEN 'One-Time' WHEN 'recurring' THEN 'Recurring'
        WHEN 'usagebased' THEN 'Usage-Based' ELSE ChargeFrequency END AS charge_frequency,
    CASE class_key WHEN 'correction' THEN 'Correction' ELSE ChargeClass END AS charge_class,
    count(*) AS charges,
    CAST(sum(BilledCost) AS DOUBLE) AS billed_cost,
    count(*) FILTER (WHERE BilledCost IS NULL) AS charges_without_billed_cost,
    count(*) FILTER (WHERE EffectiveCost IS NULL) AS charges_without_effective_cost,
    count(*) FILTER (WHERE ChargePeriodStart IS NULL OR ChargePeriodEnd IS NULL) AS charges_without_dates,
    count(*) FILTER (WHERE ChargePeriodEnd < ChargePeriodStart) AS charges_ending_before_start,
    min(BillingPeriodStart) AS first_billing_period_start,
    max(BillingPeriodStart) AS last_billing_period_start,
    max(ChargePeriodEnd) AS last_charge_end,
    CAST(_billing_period AS TIMESTAMP) AS period_start,
    CAST(_billing_period + INTERVAL 1 MONTH AS TIMESTAMP) AS period_end
FROM charges
GROUP BY ALL
ORDER BY ALL
