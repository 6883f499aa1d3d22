{#
    AWS CUR line items mapped to FOCUS 1.2, amortized.

    One FOCUS row per CUR line item, plus one Unused row per commitment fee line with unused commitment:
    - BilledCost is the cash cost: NetUnblendedCost where present, else UnblendedCost.
    - EffectiveCost is amortized: covered usage carries the commitment's amortized cost
      (reservation EffectiveCost for DiscountedUsage, SavingsPlanEffectiveCost for SavingsPlanCoveredUsage);
      purchases that pay for usage (RIFee, SavingsPlanRecurringFee, upfront fees of RIs and Savings Plans)
      have EffectiveCost 0; SavingsPlanNegation has EffectiveCost 0 so covered usage is not counted twice.
    - The unused part of a commitment (RIFee: unused amortized upfront + unused recurring fee;
      SavingsPlanRecurringFee: TotalCommitmentToDate - UsedCommitment) is an extra Usage row with
      CommitmentDiscountStatus = Unused, BilledCost 0 and EffectiveCost = the unused amount, so that per
      commitment and period, Used + Unused EffectiveCost = the commitment's cost.
    - Credit and Refund are ChargeCategory Credit (the FOCUS converter says Adjustment; the spec says Credit);
      usage lines are Usage-Based; a line whose usage lies before its billing period corrects an invoiced
      period (ChargeClass Correction), as do refunds.
    - A Fee line that buys no commitment (a support plan, say) is the monthly consumption of a service:
      Usage, Recurring (One-Time when it is not an anniversary charge), EffectiveCost = BilledCost. As a
      Purchase it would need EffectiveCost 0, which only fits prepayments for future usage, and would drop
      the cost from the amortized view.
    - ContractedCost and ListCost are unit price x quantity: the price rounded to 12 decimals (once per distinct
      price), the quantity at its full scale, the product rounded to 18 decimals (macro money_product_by_unit_price).
    - Units follow FOCUS's UnitFormat (macro focus_unit); the invoice issuer and publisher are "AWS" when
      they are one of AWS's own legal entities (the entity is kept in x_invoice_issuer_legal_name): a
      different name would declare a third-party invoice, whose BilledCost FOCUS requires to be 0.
#}

{#- The columns of focus_line_items below, in order (FOCUS's but Tags, which the tag model makes, then tfm's):
    unused_commitments replaces some of them in place. -#}
{%- set focus_line_item_columns = focus_columns() | reject('equalto', 'Tags') | list + [
    'x_source_family', 'x_source_file', 'x_source_row', 'x_charge_origin', 'x_billing_period',
    'x_input_focus_version', 'x_line_item_type', 'x_invoice_issuer_legal_name', 'x_product_code', 'x_raw_tag_map',
    'unused_commitment_cost'] %}

with

line_items as {{ not_materialized() }} (

    select * from {{ ref('int_aws_cur_line_items_unioned') }}
    where {{ billing_period_filter('billing_period') }}

),

service_categories as (

    select * from {{ ref('aws_service_categories') }}

),

-- A bill has a few dozen distinct units: each is put in FOCUS's format once (seven regular expressions), not once
-- per line item.
units as (

    select pricing_unit, {{ focus_unit('pricing_unit') }} as focus_pricing_unit
    from (
        select distinct pricing_unit from {{ ref('int_aws_cur_line_items_unioned') }} where pricing_unit is not null
    ) as distinct_units

),

-- A bill's unit prices come from a price list: a few thousand distinct values for millions of line items.
unit_prices as (

    {{ unit_prices_at_12_decimals('line_items', ['unblended_rate', 'pricing_public_on_demand_rate']) }}

),

classified as {{ not_materialized() }} (

    select
        line_items.*,
        service_categories.service_category,
        service_categories.service_subcategory,
        units.focus_pricing_unit,
        contracted_prices.unit_price_12 as contracted_unit_price_12,
        contracted_prices.quantity_limit as contracted_quantity_limit,
        list_prices.unit_price_12 as list_unit_price_12,
        list_prices.quantity_limit as list_quantity_limit,
        {{ money('coalesce(net_unblended_cost, unblended_cost, 0)') }} as billed_cost,
        coalesce(reservation_arn, savings_plan_arn) as commitment_id,
        case
            when savings_plan_arn is not null then 'Spend'
            when reservation_arn is not null then 'Usage'
        end as commitment_category,
        case
            when savings_plan_arn is not null then 'Savings Plan'
            when reservation_arn is not null then 'Reserved Instance'
        end as commitment_type,
        case
            when line_item_type = 'RIFee'
                then coalesce(reservation_net_unused_amortized_upfront_fee_for_billing_period,
                              reservation_unused_amortized_upfront_fee_for_billing_period, 0)
                    + coalesce(reservation_net_unused_recurring_fee, reservation_unused_recurring_fee, 0)
            when line_item_type = 'SavingsPlanRecurringFee'
                then coalesce(savings_plan_total_commitment_to_date, 0) - coalesce(savings_plan_used_commitment, 0)
            else 0
        end as unused_commitment_cost

    from line_items
    left join service_categories
        on line_items.product_code = service_categories.product_code
    left join units
        on line_items.pricing_unit = units.pricing_unit
    left join unit_prices as contracted_prices
        on line_items.unblended_rate = contracted_prices.unit_price
    left join unit_prices as list_prices
        on line_items.pricing_public_on_demand_rate = list_prices.unit_price

),

charges as {{ not_materialized() }} (

    select
        *,
        case
            when line_item_type = 'Tax' then 'Tax'
            when line_item_type in ('Credit', 'Refund') then 'Credit'
            when line_item_type in ('RIFee', 'SavingsPlanUpfrontFee', 'SavingsPlanRecurringFee') then 'Purchase'
            when line_item_type = 'Fee' and commitment_id is not null then 'Purchase'
            else 'Usage'
        end as charge_category,
        case
            when line_item_type in ('RIFee', 'SavingsPlanRecurringFee') then 'Recurring'
            when line_item_type = 'Tax' then 'Recurring'
            when line_item_type = 'Fee' and commitment_id is null and bill_type = 'Anniversary' then 'Recurring'
            when line_item_type in ('Fee', 'SavingsPlanUpfrontFee', 'Credit', 'Refund') then 'One-Time'
            else 'Usage-Based'
        end as charge_frequency,
        case
            when line_item_type = 'DiscountedUsage'
                then coalesce(reservation_net_effective_cost, reservation_effective_cost, 0)
            when line_item_type = 'SavingsPlanCoveredUsage'
                then coalesce(savings_plan_net_effective_cost, savings_plan_effective_cost, 0)
            when line_item_type in ('SavingsPlanNegation', 'SavingsPlanUpfrontFee', 'SavingsPlanRecurringFee',
                                    'RIFee')
                then 0
            when line_item_type = 'Fee' and commitment_id is not null then 0
            else billed_cost
        end as amortized_cost,
        line_item_type in ('DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation') as is_covered_usage,
        usage_amount is not null and pricing_unit is not null
            and line_item_type not in ('Tax', 'Credit', 'Refund') as has_quantity

    from classified

),

-- Not materialized, nor the CTEs it reads: the unused commitments below read it again, for the few fee lines that
-- have any. DuckDB materializes a CTE read twice unless told not to; holding every line item's hundred columns
-- to read them twice tripled this model's time and memory, where the second read scans a few columns and keeps the
-- fee lines.
focus_line_items as {{ not_materialized() }} (

    select
        availability_zone as AvailabilityZone,
        billed_cost as BilledCost,
        billing_account_id as BillingAccountId,
        coalesce(billing_account_name, billing_account_id) as BillingAccountName,
        'Payer Account' as BillingAccountType,
        currency_code as BillingCurrency,
        billing_period_end_at as BillingPeriodEnd,
        billing_period_start_at as BillingPeriodStart,
        cast(null as string) as CapacityReservationId,
        cast(null as string) as CapacityReservationStatus,
        charge_category as ChargeCategory,
        case
            when line_item_type = 'Refund' or usage_start_at < billing_period_start_at then 'Correction'
        end as ChargeClass,
        line_item_description as ChargeDescription,
        charge_frequency as ChargeFrequency,
        usage_end_at as ChargePeriodEnd,
        usage_start_at as ChargePeriodStart,
        commitment_category as CommitmentDiscountCategory,
        commitment_id as CommitmentDiscountId,
        case when commitment_id is not null then split_part(commitment_id, '/', -1) end as CommitmentDiscountName,
        cast(null as decimal(38, 18)) as CommitmentDiscountQuantity,
        case when commitment_id is not null and charge_category = 'Usage' then 'Used' end
            as CommitmentDiscountStatus,
        commitment_type as CommitmentDiscountType,
        cast(null as string) as CommitmentDiscountUnit,
        case when has_quantity and charge_category = 'Usage' then usage_amount end as ConsumedQuantity,
        case when has_quantity and charge_category = 'Usage' then focus_pricing_unit end as ConsumedUnit,
        case
            when line_item_type = 'SavingsPlanNegation' then {{ money('0') }}
            when has_quantity and line_item_type in ('Usage', 'SavingsPlanCoveredUsage') and unblended_rate is not null
                then {{ money_product_by_unit_price(
                    'contracted_unit_price_12', 'contracted_quantity_limit', 'usage_amount') }}
            when has_quantity and line_item_type = 'DiscountedUsage' and pricing_public_on_demand_rate is not null
                then {{ money_product_by_unit_price('list_unit_price_12', 'list_quantity_limit', 'usage_amount') }}
            else billed_cost
        end as ContractedCost,
        case
            when has_quantity and line_item_type in ('Usage', 'SavingsPlanCoveredUsage') then unblended_rate
            when has_quantity and line_item_type = 'DiscountedUsage' then pricing_public_on_demand_rate
        end as ContractedUnitPrice,
        {{ money('amortized_cost') }} as EffectiveCost,
        invoice_id as InvoiceId,
        case
            when coalesce(invoicing_entity, legal_entity, 'Amazon Web Services') ilike 'Amazon Web Services%' then 'AWS'
            else coalesce(invoicing_entity, legal_entity)
        end as InvoiceIssuerName,
        case
            when line_item_type = 'SavingsPlanNegation' then {{ money('0') }}
            when has_quantity and charge_category = 'Usage' and pricing_public_on_demand_rate is not null
                then {{ money_product_by_unit_price('list_unit_price_12', 'list_quantity_limit', 'usage_amount') }}
            else {{ money('coalesce(nullif(pricing_public_on_demand_cost, 0), billed_cost)') }}
        end as ListCost,
        case
            when line_item_type <> 'SavingsPlanNegation' and has_quantity and charge_category = 'Usage'
                then pricing_public_on_demand_rate
        end as ListUnitPrice,
        case
            when charge_category in ('Tax', 'Credit') then null
            when charge_category = 'Purchase' then 'Standard'
            when commitment_id is not null or pricing_term = 'Reserved' then 'Committed'
            when pricing_purchase_option ilike '%spot%' or usage_type ilike '%SpotUsage%' then 'Dynamic'
            else 'Standard'
        end as PricingCategory,
        coalesce(pricing_currency, currency_code) as PricingCurrency,
        case
            when has_quantity and line_item_type in ('Usage', 'SavingsPlanCoveredUsage') then unblended_rate
            when has_quantity and line_item_type = 'DiscountedUsage' then pricing_public_on_demand_rate
        end as PricingCurrencyContractedUnitPrice,
        {{ money('amortized_cost') }} as PricingCurrencyEffectiveCost,
        case
            when line_item_type <> 'SavingsPlanNegation' and has_quantity and charge_category = 'Usage'
                then pricing_public_on_demand_rate
        end as PricingCurrencyListUnitPrice,
        case when has_quantity then usage_amount end as PricingQuantity,
        case when has_quantity then focus_pricing_unit end as PricingUnit,
        'AWS' as ProviderName,
        case
            when coalesce(legal_entity, 'Amazon Web Services') ilike 'Amazon Web Services%' then 'AWS'
            else legal_entity
        end as PublisherName,
        product_region_code as RegionId,
        case when product_region_code is not null then coalesce(product_location, product_region_code) end
            as RegionName,
        resource_id as ResourceId,
        resource_id as ResourceName,
        case
            when resource_id is not null then coalesce(product_family, coalesce(product_name, product_code))
        end as ResourceType,
        coalesce(service_category, 'Other') as ServiceCategory,
        coalesce(product_name, product_code) as ServiceName,
        coalesce(service_subcategory, 'Other (Other)') as ServiceSubcategory,
        product_sku as SkuId,
        case when product_sku is not null then coalesce(usage_type, line_item_type) end as SkuMeter,
        cast(null as string) as SkuPriceDetails,
        -- CUR's rate code is SKU.OfferTermCode.RateCode; older files only have a numeric rate id, which is
        -- prefixed with the SKU so that every SkuPriceId has exactly one SkuId.
        coalesce(pricing_rate_code, product_sku || '.' || pricing_rate_id) as SkuPriceId,
        sub_account_id as SubAccountId,
        case when sub_account_id is not null then coalesce(sub_account_name, sub_account_id) end as SubAccountName,
        case when sub_account_id is not null then 'Linked Account' end as SubAccountType,

        -- beyond FOCUS
        source_family as x_source_family,
        source_file as x_source_file,
        source_row as x_source_row,
        'line_item' as x_charge_origin,
        billing_period as x_billing_period,
        cast(null as string) as x_input_focus_version,
        line_item_type as x_line_item_type,
        coalesce(invoicing_entity, legal_entity) as x_invoice_issuer_legal_name,
        product_code as x_product_code,
        resource_tags as x_raw_tag_map,
        unused_commitment_cost

    from charges

),

unused_commitments as (

    select
        {% call star_replace(columns=focus_line_item_columns) %}
            {{ money('0') }} as BilledCost,
            'Usage' as ChargeCategory,
            cast(null as string) as ChargeClass,
            'Unused ' || CommitmentDiscountType || ' commitment' as ChargeDescription,
            'Usage-Based' as ChargeFrequency,
            'Unused' as CommitmentDiscountStatus,
            cast(null as decimal(38, 18)) as ConsumedQuantity,
            cast(null as string) as ConsumedUnit,
            {{ money('0') }} as ContractedCost,
            cast(null as decimal(38, 18)) as ContractedUnitPrice,
            {{ money('unused_commitment_cost') }} as EffectiveCost,
            {{ money('0') }} as ListCost,
            cast(null as decimal(38, 18)) as ListUnitPrice,
            'Committed' as PricingCategory,
            cast(null as decimal(38, 18)) as PricingCurrencyContractedUnitPrice,
            {{ money('unused_commitment_cost') }} as PricingCurrencyEffectiveCost,
            cast(null as decimal(38, 18)) as PricingCurrencyListUnitPrice,
            cast(null as decimal(38, 18)) as PricingQuantity,
            cast(null as string) as PricingUnit,
            'unused_commitment' as x_charge_origin
        {% endcall %}

    from focus_line_items
    where unused_commitment_cost <> 0

),

final as (

    select {{ star_except(['unused_commitment_cost']) }} from focus_line_items
    union all
    select {{ star_except(['unused_commitment_cost']) }} from unused_commitments

)

select * from final
