{#
    FOCUS exports of any version (1.0, 1.1, 1.2) upgraded to FOCUS 1.2 and cleaned of real exports' quirks.

    - Columns a version lacks are already NULL in raw (the raw table carries every 1.2 column); 1.2's
      mandatory ServiceSubcategory is derived for older inputs as "Other (<ServiceCategory>)".
    - Empty strings and the string NULL are NULL (ingestion and staging); datetimes are UTC timestamps.
    - Values of closed lists are put back into the specification's spelling where an export varies only in
      case or spacing (the FinOps sample writes "Usage-based").
    - A missing ContractedCost (mandatory, never NULL) is filled with ContractedUnitPrice x PricingQuantity
      when both are known, else with BilledCost; x_source_extras notes it ("ContractedCost": "NULL in the
      export").
    - Columns the export brings beyond FOCUS are kept, as a JSON object under their names in the file, in
      x_source_extras (staging's source_extras); NULL when there are none and nothing was filled.
    - FOCUS 1.2 rules older exports break are repaired: names default to their ids (BillingAccountName,
      SubAccountName, ResourceName, RegionName), account types are filled (AWS: Payer / Linked Account),
      ResourceType defaults to ServiceName, PricingCurrency and its prices default to the billing currency's,
      ConsumedQuantity/Unit are NULL outside Usage, a negative ContractedUnitPrice is NULL, and each
      ServiceName keeps one ServiceCategory/ServiceSubcategory (its most frequent).
    - Units are put in FOCUS's UnitFormat (macro focus_unit); a 1.0 input's SkuMeter (new in 1.1) is its
      ChargeDescription where it has a SkuId; an AWS legal entity as invoice issuer of ProviderName AWS is
      "AWS" (the entity is kept in x_invoice_issuer_legal_name).
#}
with

charges as (

    select * from {{ ref('stg_focus__charges') }}

),

cleaned as (

    select
        {% call star_replace() %}
            {{ focus_closed_value('ChargeCategory', ['Usage', 'Purchase', 'Tax', 'Credit', 'Adjustment']) }}
                as ChargeCategory,
            {{ focus_closed_value('ChargeClass', ['Correction']) }} as ChargeClass,
            {{ focus_closed_value('ChargeFrequency', ['One-Time', 'Recurring', 'Usage-Based']) }} as ChargeFrequency,
            {{ focus_closed_value('CommitmentDiscountCategory', ['Spend', 'Usage']) }} as CommitmentDiscountCategory,
            {{ focus_closed_value('CommitmentDiscountStatus', ['Used', 'Unused']) }} as CommitmentDiscountStatus,
            {{ focus_closed_value('CapacityReservationStatus', ['Used', 'Unused']) }} as CapacityReservationStatus,
            {{ focus_closed_value('PricingCategory', ['Standard', 'Dynamic', 'Committed', 'Other']) }}
                as PricingCategory,
            coalesce(
                ContractedCost,
                case when ContractedUnitPrice is not null and PricingQuantity is not null
                    then {{ money_product('ContractedUnitPrice', 'PricingQuantity') }} end,
                BilledCost
            ) as ContractedCost,
            coalesce(ServiceSubcategory, 'Other (' || ServiceCategory || ')') as ServiceSubcategory,
            coalesce(SkuMeter, case when SkuId is not null then ChargeDescription end) as SkuMeter,
            coalesce(BillingAccountName, BillingAccountId) as BillingAccountName,
            coalesce(BillingAccountType, case when BillingAccountId is not null then
                case ProviderName when 'AWS' then 'Payer Account' else 'Billing Account' end end) as BillingAccountType,
            case when SubAccountId is not null then coalesce(SubAccountName, SubAccountId) end as SubAccountName,
            coalesce(SubAccountType, case when SubAccountId is not null then
                case ProviderName when 'AWS' then 'Linked Account' when 'Microsoft' then 'Subscription'
                    else 'Sub Account' end end) as SubAccountType,
            case when RegionId is not null then coalesce(RegionName, RegionId) end as RegionName,
            case when ResourceId is not null then coalesce(ResourceType, ServiceName) end as ResourceType,
            case when ResourceId is not null then coalesce(ResourceName, ResourceId) end as ResourceName,
            case when ChargeCategory ilike 'usage' then ConsumedQuantity end as ConsumedQuantity,
            case when ContractedUnitPrice >= 0 then ContractedUnitPrice end as ContractedUnitPrice,
            coalesce(PricingCurrency, BillingCurrency) as PricingCurrency,
            coalesce(PricingCurrencyEffectiveCost,
                case when coalesce(PricingCurrency, BillingCurrency) = BillingCurrency then EffectiveCost end)
                as PricingCurrencyEffectiveCost,
            coalesce(PricingCurrencyListUnitPrice,
                case when coalesce(PricingCurrency, BillingCurrency) = BillingCurrency then ListUnitPrice end)
                as PricingCurrencyListUnitPrice,
            coalesce(PricingCurrencyContractedUnitPrice,
                case when coalesce(PricingCurrency, BillingCurrency) = BillingCurrency
                    and ContractedUnitPrice >= 0 then ContractedUnitPrice end)
                as PricingCurrencyContractedUnitPrice,
            {{ focus_unit('PricingUnit') }} as PricingUnit,
            case when ChargeCategory ilike 'usage' then {{ focus_unit('ConsumedUnit') }} end as ConsumedUnit,
            case
                when ProviderName = 'AWS' and InvoiceIssuerName ilike 'Amazon Web Services%' then 'AWS'
                else InvoiceIssuerName
            end as InvoiceIssuerName
        {% endcall %},
        InvoiceIssuerName as x_invoice_issuer_legal_name,
        case
            when ContractedCost is null
                then {{ json_with_text('source_extras', 'ContractedCost', 'NULL in the export') }}
            else source_extras
        end as x_source_extras

    from charges

),

service_categories as (

    -- FOCUS allows one ServiceCategory (and one ServiceSubcategory) per ServiceName: where an export
    -- disagrees with itself, the most frequent pair of the provider's service wins.
    select
        ProviderName,
        ServiceName,
        {{ value_at_max('ServiceCategory', 'charges') }} as ServiceCategory,
        {{ value_at_max('ServiceSubcategory', 'charges') }} as ServiceSubcategory
    from (
        select ProviderName, ServiceName, ServiceCategory, ServiceSubcategory, count(*) as charges
        from cleaned
        group by all
    )
    group by all

),

consistent as (

    select
        {% call star_replace(relation='cleaned') %}
            coalesce(service_categories.ServiceCategory, cleaned.ServiceCategory) as ServiceCategory,
            coalesce(service_categories.ServiceSubcategory, cleaned.ServiceSubcategory) as ServiceSubcategory
        {% endcall %}
    from cleaned
    left join service_categories
        on cleaned.ProviderName is not distinct from service_categories.ProviderName
        and cleaned.ServiceName is not distinct from service_categories.ServiceName

),

final as (

    select
        {{ star_except(['focus_version', 'source_file', 'file_checksum', 'source_row', 'billing_period', 'ingested_at',
            'Tags', 'source_extras']) }},
        Tags,
        'focus' as x_source_family,
        source_file as x_source_file,
        source_row as x_source_row,
        'line_item' as x_charge_origin,
        billing_period as x_billing_period,
        focus_version as x_input_focus_version,
        cast(null as string) as x_line_item_type,
        cast(null as string) as x_product_code,
        {{ json_to_string_map('Tags') }} as x_raw_tag_map

    from consistent

)

select * from final
