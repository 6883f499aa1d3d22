{#
    The staging select shared by the three AWS CUR source families (legacy CSV, legacy Athena
    parquet, CUR 2.0). Their raw tables all carry the CUR 2.0 dictionary columns, so one select
    renames and casts them, and the three staging models return one column list with one type per
    column, ready to be unioned.

    Naming: the identity_, bill_ and line_item_ prefixes are dropped (they describe the line item
    itself); the product_, pricing_, reservation_ and savings_plan_ prefixes are kept (they describe
    a related thing); doubled words collapse (line_item_line_item_type -> line_item_type,
    reservation_reservation_a_r_n -> reservation_arn); accounts take the FOCUS vocabulary
    (payer -> billing account, usage account -> sub account); timestamps end in _at; the map columns
    take plural names. Empty strings are read as NULL (see cast_text).

    Two values have a legacy-only spelling, included when the raw table has the column:
    product_product_name (legacy; CUR 2.0 keeps the product name in the product map under
    product_name) and product_region (legacy region code; CUR 2.0 and newer legacy files have
    product_region_code).

    Arguments:
        source_relation: the raw table, as source('<family>', 'line_items')
        source_family: the family name, written into the source_family column
#}
{% macro stage_aws_cur_line_items(source_relation, source_family) %}

{%- set raw_columns = relation_column_names(source_relation) | map('lower') | list -%}

with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        cast({{ quote_literal(source_family) }} as string) as source_family,

        -- identity
        {{ cast_text('identity_line_item_id') }} as line_item_id,
        {{ cast_text('identity_time_interval') }} as time_interval,

        -- bill
        {{ cast_text('bill_invoice_id') }} as invoice_id,
        {{ cast_text('bill_invoicing_entity') }} as invoicing_entity,
        {{ cast_text('bill_billing_entity') }} as billing_entity,
        {{ cast_text('bill_bill_type') }} as bill_type,
        {{ cast_text('bill_payer_account_id') }} as billing_account_id,
        {{ cast_text('bill_payer_account_name') }} as billing_account_name,
        cast(bill_billing_period_start_date as timestamp) as billing_period_start_at,
        cast(bill_billing_period_end_date as timestamp) as billing_period_end_at,

        -- line item
        {{ cast_text('line_item_usage_account_id') }} as sub_account_id,
        {{ cast_text('line_item_usage_account_name') }} as sub_account_name,
        {{ cast_text('line_item_line_item_type') }} as line_item_type,
        cast(line_item_usage_start_date as timestamp) as usage_start_at,
        cast(line_item_usage_end_date as timestamp) as usage_end_at,
        {{ cast_text('line_item_product_code') }} as product_code,
        {{ cast_text('line_item_usage_type') }} as usage_type,
        {{ cast_text('line_item_operation') }} as operation,
        {{ cast_text('line_item_availability_zone') }} as availability_zone,
        {{ cast_text('line_item_resource_id') }} as resource_id,
        cast(line_item_usage_amount as decimal(38, 18)) as usage_amount,
        cast(line_item_normalization_factor as decimal(38, 18)) as normalization_factor,
        cast(line_item_normalized_usage_amount as decimal(38, 18)) as normalized_usage_amount,
        {{ cast_text('line_item_currency_code') }} as currency_code,
        cast(line_item_unblended_rate as decimal(38, 18)) as unblended_rate,
        cast(line_item_unblended_cost as decimal(38, 18)) as unblended_cost,
        cast(line_item_blended_rate as decimal(38, 18)) as blended_rate,
        cast(line_item_blended_cost as decimal(38, 18)) as blended_cost,
        cast(line_item_net_unblended_rate as decimal(38, 18)) as net_unblended_rate,
        cast(line_item_net_unblended_cost as decimal(38, 18)) as net_unblended_cost,
        {{ cast_text('line_item_line_item_description') }} as line_item_description,
        {{ cast_text('line_item_tax_type') }} as tax_type,
        {{ cast_text('line_item_legal_entity') }} as legal_entity,

        -- product
        {% if 'product_product_name' in raw_columns -%}
        coalesce({{ cast_text('product_product_name') }}, {{ cast_text("product['product_name']") }})
        {%- else -%}
        {{ cast_text("product['product_name']") }}
        {%- endif %} as product_name,
        {{ cast_text('product_product_family') }} as product_family,
        {{ cast_text('product_servicecode') }} as product_service_code,
        {{ cast_text('product_sku') }} as product_sku,
        {% if 'product_region' in raw_columns -%}
        coalesce({{ cast_text('product_region_code') }}, {{ cast_text('product_region') }})
        {%- else -%}
        {{ cast_text('product_region_code') }}
        {%- endif %} as product_region_code,
        {{ cast_text('product_location') }} as product_location,
        {{ cast_text('product_from_region_code') }} as product_from_region_code,
        {{ cast_text('product_to_region_code') }} as product_to_region_code,

        -- pricing
        {{ cast_text('pricing_term') }} as pricing_term,
        {{ cast_text('pricing_unit') }} as pricing_unit,
        {{ cast_text('pricing_currency') }} as pricing_currency,
        {{ cast_text('pricing_purchase_option') }} as pricing_purchase_option,
        {{ cast_text('pricing_rate_code') }} as pricing_rate_code,
        {{ cast_text('pricing_rate_id') }} as pricing_rate_id,
        cast(pricing_public_on_demand_rate as decimal(38, 18)) as pricing_public_on_demand_rate,
        cast(pricing_public_on_demand_cost as decimal(38, 18)) as pricing_public_on_demand_cost,

        -- reservation
        {{ cast_text('reservation_reservation_a_r_n') }} as reservation_arn,
        cast(reservation_effective_cost as decimal(38, 18)) as reservation_effective_cost,
        cast(reservation_amortized_upfront_cost_for_usage as decimal(38, 18))
            as reservation_amortized_upfront_cost_for_usage,
        cast(reservation_amortized_upfront_fee_for_billing_period as decimal(38, 18))
            as reservation_amortized_upfront_fee_for_billing_period,
        cast(reservation_recurring_fee_for_usage as decimal(38, 18)) as reservation_recurring_fee_for_usage,
        cast(reservation_unused_amortized_upfront_fee_for_billing_period as decimal(38, 18))
            as reservation_unused_amortized_upfront_fee_for_billing_period,
        cast(reservation_unused_recurring_fee as decimal(38, 18)) as reservation_unused_recurring_fee,
        cast(reservation_unused_quantity as decimal(38, 18)) as reservation_unused_quantity,
        cast(reservation_unused_normalized_unit_quantity as decimal(38, 18))
            as reservation_unused_normalized_unit_quantity,
        cast(reservation_upfront_value as decimal(38, 18)) as reservation_upfront_value,
        cast(reservation_total_reserved_units as decimal(38, 18)) as reservation_total_reserved_units,
        cast(reservation_total_reserved_normalized_units as decimal(38, 18))
            as reservation_total_reserved_normalized_units,
        cast(reservation_number_of_reservations as decimal(38, 18)) as reservation_number_of_reservations,
        cast(reservation_net_effective_cost as decimal(38, 18)) as reservation_net_effective_cost,
        cast(reservation_net_amortized_upfront_cost_for_usage as decimal(38, 18))
            as reservation_net_amortized_upfront_cost_for_usage,
        cast(reservation_net_amortized_upfront_fee_for_billing_period as decimal(38, 18))
            as reservation_net_amortized_upfront_fee_for_billing_period,
        cast(reservation_net_recurring_fee_for_usage as decimal(38, 18))
            as reservation_net_recurring_fee_for_usage,
        cast(reservation_net_unused_amortized_upfront_fee_for_billing_period as decimal(38, 18))
            as reservation_net_unused_amortized_upfront_fee_for_billing_period,
        cast(reservation_net_unused_recurring_fee as decimal(38, 18)) as reservation_net_unused_recurring_fee,
        cast(reservation_net_upfront_value as decimal(38, 18)) as reservation_net_upfront_value,

        -- savings plan
        {{ cast_text('savings_plan_savings_plan_a_r_n') }} as savings_plan_arn,
        cast(savings_plan_savings_plan_rate as decimal(38, 18)) as savings_plan_rate,
        cast(savings_plan_savings_plan_effective_cost as decimal(38, 18)) as savings_plan_effective_cost,
        cast(savings_plan_net_savings_plan_effective_cost as decimal(38, 18))
            as savings_plan_net_effective_cost,
        cast(savings_plan_total_commitment_to_date as decimal(38, 18)) as savings_plan_total_commitment_to_date,
        cast(savings_plan_used_commitment as decimal(38, 18)) as savings_plan_used_commitment,
        cast(savings_plan_amortized_upfront_commitment_for_billing_period as decimal(38, 18))
            as savings_plan_amortized_upfront_commitment_for_billing_period,
        cast(savings_plan_recurring_commitment_for_billing_period as decimal(38, 18))
            as savings_plan_recurring_commitment_for_billing_period,
        cast(savings_plan_net_amortized_upfront_commitment_for_billing_period as decimal(38, 18))
            as savings_plan_net_amortized_upfront_commitment_for_billing_period,
        cast(savings_plan_net_recurring_commitment_for_billing_period as decimal(38, 18))
            as savings_plan_net_recurring_commitment_for_billing_period,

        -- discount
        cast(discount_total_discount as decimal(38, 18)) as total_discount,
        cast(discount_bundled_discount as decimal(38, 18)) as bundled_discount,

        -- key/value maps
        cast(product as {{ string_map_type() }}) as product_attributes,
        cast(resource_tags as {{ string_map_type() }}) as resource_tags,
        cast(cost_category as {{ string_map_type() }}) as cost_categories,
        cast(tags as {{ string_map_type() }}) as tags,
        cast(discount as {{ adapter.dispatch('decimal_map_type', 'tfm')() }}) as discounts,

        -- lineage
        {{ staging_lineage_columns() }}

    from source

)

select * from renamed

{% endmacro %}
