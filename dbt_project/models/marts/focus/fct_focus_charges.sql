{#
    The FOCUS 1.2 dataset of every billing source: one row per charge, the 57 FOCUS columns with their
    FOCUS names and types, then x_ columns for lineage and convenience. Tags holds the normalized tags
    (see int_charge_tags_normalized, one row per distinct tag set, which each charge meets through the key of its
    own tags, macro tag_set_key); x_raw_tags the provider's own. In both, values that are personal data
    (seed tag_masking_rules) are masked: rpt_masked_tag_values reports which.
#}
with

charges as (

    select * from {{ ref('int_focus_charges_unioned') }}
    where {{ billing_period_filter('x_billing_period') }}

),

tags as (

    select * from {{ ref('int_charge_tags_normalized') }}
    where {{ billing_period_filter('x_billing_period') }}

),

final as (

    select
        charges.AvailabilityZone,
        charges.BilledCost,
        charges.BillingAccountId,
        charges.BillingAccountName,
        charges.BillingAccountType,
        charges.BillingCurrency,
        {{ utc_timestamptz('charges.BillingPeriodEnd') }} as BillingPeriodEnd,
        {{ utc_timestamptz('charges.BillingPeriodStart') }} as BillingPeriodStart,
        charges.CapacityReservationId,
        charges.CapacityReservationStatus,
        charges.ChargeCategory,
        charges.ChargeClass,
        charges.ChargeDescription,
        charges.ChargeFrequency,
        {{ utc_timestamptz('charges.ChargePeriodEnd') }} as ChargePeriodEnd,
        {{ utc_timestamptz('charges.ChargePeriodStart') }} as ChargePeriodStart,
        charges.CommitmentDiscountCategory,
        charges.CommitmentDiscountId,
        charges.CommitmentDiscountName,
        charges.CommitmentDiscountQuantity,
        charges.CommitmentDiscountStatus,
        charges.CommitmentDiscountType,
        charges.CommitmentDiscountUnit,
        charges.ConsumedQuantity,
        charges.ConsumedUnit,
        charges.ContractedCost,
        charges.ContractedUnitPrice,
        charges.EffectiveCost,
        charges.InvoiceId,
        charges.InvoiceIssuerName,
        charges.ListCost,
        charges.ListUnitPrice,
        charges.PricingCategory,
        charges.PricingCurrency,
        charges.PricingCurrencyContractedUnitPrice,
        charges.PricingCurrencyEffectiveCost,
        charges.PricingCurrencyListUnitPrice,
        charges.PricingQuantity,
        charges.PricingUnit,
        charges.ProviderName,
        charges.PublisherName,
        charges.RegionId,
        charges.RegionName,
        charges.ResourceId,
        charges.ResourceName,
        charges.ResourceType,
        charges.ServiceCategory,
        charges.ServiceName,
        charges.ServiceSubcategory,
        charges.SkuId,
        charges.SkuMeter,
        cast(charges.SkuPriceDetails as {{ json_type() }}) as SkuPriceDetails,
        charges.SkuPriceId,
        charges.SubAccountId,
        charges.SubAccountName,
        charges.SubAccountType,
        {{ string_map_to_json('tags.tag_map') }} as Tags,

        charges.x_source_family,
        charges.x_source_file,
        charges.x_source_row,
        charges.x_charge_origin,
        charges.x_billing_period,
        charges.x_input_focus_version,
        charges.x_line_item_type,
        charges.x_product_code,
        charges.x_invoice_issuer_legal_name,
        coalesce(
            tags.masked_raw_tags,
            {{ try_json('charges.Tags') }},
            {{ string_map_to_json('charges.x_raw_tag_map') }}
        ) as x_raw_tags,
        tags.tag_map as x_tags,
        tags.tag_map['team'] as x_team,
        tags.tag_map['product'] as x_product,
        tags.tag_map['cost_center'] as x_cost_center,
        tags.tag_map['env'] as x_env,
        cast(charges.x_source_extras as {{ json_type() }}) as x_source_extras

    from charges
    left join tags
        on charges.x_billing_period = tags.x_billing_period
        and {{ tag_set_key('charges.x_raw_tag_map', 'charges.Tags') }} = tags.tag_set

)

select * from final
