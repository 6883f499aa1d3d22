{#
    Which tag values the public marts mask as personal data, and how much cost they tag: per billing period,
    source family, tag key (normalized and as the provider wrote it), reason, masking rule and currency, the
    charges whose value under that key was masked, how many distinct values were masked, and their billed and
    effective cost. The values themselves are never here, not even as tokens.
#}
with

masked_charges as (

    select x_source_file, x_source_row, x_charge_origin, masked_tags
    from {{ ref('int_charge_tags_normalized') }}
    where masked_tags is not null

),

charges as (

    select
        x_source_file,
        x_source_row,
        x_charge_origin,
        x_source_family,
        cast(BillingPeriodStart as date) as billing_period_start,
        BillingCurrency,
        BilledCost,
        EffectiveCost
    from {{ ref('fct_focus_charges') }}

),

masked_values as (

    select
        x_source_file,
        x_source_row,
        x_charge_origin,
        {{ unnest_list('masked_tags') }} as masked
    from masked_charges

),

final as (

    select
        charges.billing_period_start,
        charges.x_source_family as source_family,
        masked_values.masked.tag_key as tag_key,
        masked_values.masked.raw_tag_key as raw_tag_key,
        masked_values.masked.mask_reason as mask_reason,
        masked_values.masked.masking_rule_id as masking_rule_id,
        charges.BillingCurrency as billing_currency,
        count(*) as charge_count,
        count(distinct masked_values.masked.masked_value) as masked_value_count,
        {{ money('sum(charges.BilledCost)') }} as billed_cost,
        {{ money('sum(charges.EffectiveCost)') }} as effective_cost
    from masked_values
    inner join charges
        on masked_values.x_source_file = charges.x_source_file
        and masked_values.x_source_row = charges.x_source_row
        and masked_values.x_charge_origin = charges.x_charge_origin
    group by all

)

select * from final
