{#
    The 57 columns of FOCUS 1.2, in the specification's (alphabetical) order: the one list the FOCUS models
    use. focus_decimal_columns() and focus_datetime_columns() name the typed ones.
#}
{% macro focus_columns() -%}
    {{ return([
        'AvailabilityZone', 'BilledCost', 'BillingAccountId', 'BillingAccountName', 'BillingAccountType',
        'BillingCurrency', 'BillingPeriodEnd', 'BillingPeriodStart', 'CapacityReservationId',
        'CapacityReservationStatus', 'ChargeCategory', 'ChargeClass', 'ChargeDescription', 'ChargeFrequency',
        'ChargePeriodEnd', 'ChargePeriodStart', 'CommitmentDiscountCategory', 'CommitmentDiscountId',
        'CommitmentDiscountName', 'CommitmentDiscountQuantity', 'CommitmentDiscountStatus',
        'CommitmentDiscountType', 'CommitmentDiscountUnit', 'ConsumedQuantity', 'ConsumedUnit', 'ContractedCost',
        'ContractedUnitPrice', 'EffectiveCost', 'InvoiceId', 'InvoiceIssuerName', 'ListCost', 'ListUnitPrice',
        'PricingCategory', 'PricingCurrency', 'PricingCurrencyContractedUnitPrice',
        'PricingCurrencyEffectiveCost', 'PricingCurrencyListUnitPrice', 'PricingQuantity', 'PricingUnit',
        'ProviderName', 'PublisherName', 'RegionId', 'RegionName', 'ResourceId', 'ResourceName', 'ResourceType',
        'ServiceCategory', 'ServiceName', 'ServiceSubcategory', 'SkuId', 'SkuMeter', 'SkuPriceDetails',
        'SkuPriceId', 'SubAccountId', 'SubAccountName', 'SubAccountType', 'Tags',
    ]) }}
{%- endmacro %}

{% macro focus_decimal_columns() -%}
    {{ return([
        'BilledCost', 'CommitmentDiscountQuantity', 'ConsumedQuantity', 'ContractedCost', 'ContractedUnitPrice',
        'EffectiveCost', 'ListCost', 'ListUnitPrice', 'PricingCurrencyContractedUnitPrice',
        'PricingCurrencyEffectiveCost', 'PricingCurrencyListUnitPrice', 'PricingQuantity',
    ]) }}
{%- endmacro %}

{% macro focus_datetime_columns() -%}
    {{ return(['BillingPeriodEnd', 'BillingPeriodStart', 'ChargePeriodEnd', 'ChargePeriodStart']) }}
{%- endmacro %}
