{#
    FOCUS exports of any version (1.0, 1.1, 1.2) upgraded to FOCUS 1.2 and cleaned of real exports' quirks.

    - Columns a version lacks are already NULL in raw (the raw table carries every 1.2 column); 1.2's
      mandatory ServiceSubcategory is derived for older inputs as "Other (<ServiceCategory>)".
    - Empty strings and the string NULL are NULL (ingestion and staging); datetimes are UTC timestamps.
    - Values of closed lists are put back into the specification's spelling where an export varies only in
      case or spacing (the FinOps sample writes "Usage-based").
    - A missing ContractedCost (mandatory, never NULL) is filled with ContractedUnitPrice x PricingQuantity
      when both are known, else with BilledCost; the original is kept in x_source_extras.
    - Columns the export brings beyond FOCUS are kept, as a JSON object, in x_source_extras.
    - Units are put in FOCUS's UnitFormat (macro focus_unit); a 1.0 input's SkuMeter (new in 1.1) is its
      ChargeDescription where it has a SkuId; an AWS legal entity as invoice issuer of ProviderName AWS is
      "AWS" (the entity is kept in x_invoice_issuer_legal_name).
#}
{%- set source_relation = ref('stg_focus__charges') -%}
{%- set known = [] -%}
{%- for name in focus_columns() + [
    'focus_version', 'source_file', 'file_checksum', 'source_row', 'billing_period', 'ingested_at'] -%}
    {%- do known.append(name | lower) -%}
{%- endfor -%}
{%- set extra_columns = [] -%}
{%- for name in relation_column_names(source_relation) -%}
    {%- if name | lower not in known -%}{%- do extra_columns.append(name) -%}{%- endif -%}
{%- endfor -%}

with

charges as (

    select * from {{ source_relation }}

),

cleaned as (

    select
        * replace (
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
            {{ focus_unit('PricingUnit') }} as PricingUnit,
            {{ focus_unit('ConsumedUnit') }} as ConsumedUnit,
            case
                when ProviderName = 'AWS' and InvoiceIssuerName ilike 'Amazon Web Services%' then 'AWS'
                else InvoiceIssuerName
            end as InvoiceIssuerName
        ),
        InvoiceIssuerName as x_invoice_issuer_legal_name,
        {% if extra_columns -%}
        to_json(struct_pack(
            {%- for name in extra_columns %}
            {{ adapter.quote(name) }} := {{ adapter.quote(name) }},
            {%- endfor %}
            ContractedCost := case when ContractedCost is null then 'NULL in the export' end
        ))
        {%- else -%}
        to_json(struct_pack(ContractedCost := case when ContractedCost is null then 'NULL in the export' end))
        {%- endif %} as x_source_extras

    from charges

),

final as (

    select
        * exclude (focus_version, source_file, file_checksum, source_row, billing_period, ingested_at, Tags
            {%- for name in extra_columns %}, {{ adapter.quote(name) }}{% endfor %}),
        Tags,
        'focus' as x_source_family,
        source_file as x_source_file,
        source_row as x_source_row,
        'line_item' as x_charge_origin,
        billing_period as x_billing_period,
        focus_version as x_input_focus_version,
        cast(null as varchar) as x_line_item_type,
        cast(null as varchar) as x_product_code,
        try_cast(try_cast(Tags as json) as map(varchar, varchar)) as x_raw_tag_map

    from cleaned

)

select * from final
