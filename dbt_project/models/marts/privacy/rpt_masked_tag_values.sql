{#
    Which tag values the public marts mask as personal data, and how much cost they tag: per billing period,
    source family, tag key (normalized and as the provider wrote it), reason, masking rule and currency, the
    charges whose value under that key was masked, how many distinct values were masked, and their billed and
    effective cost. The values themselves are never here, not even as tokens.
#}
with

-- The tag sets with a masked value (a few, of a few thousand sets); each charge meets its set through the key of
-- its own tags, as in fct_focus_charges.
masked_sets as (

    select x_billing_period, tag_set, masked_tags
    from {{ ref('int_charge_tags_normalized') }}
    where masked_tags is not null

),

charges as (

    select
        x_billing_period,
        {{ tag_set_key('x_raw_tag_map', 'Tags') }} as tag_set,
        x_source_family,
        cast({{ utc_timestamptz('BillingPeriodStart') }} as date) as billing_period_start,
        BillingCurrency,
        BilledCost,
        EffectiveCost
    from {{ ref('int_focus_charges_unioned') }}

),

masked_charges as (

    select
        charges.billing_period_start,
        charges.x_source_family,
        charges.BillingCurrency,
        charges.BilledCost,
        charges.EffectiveCost,
        masked_sets.masked_tags
    from charges
    inner join masked_sets
        on charges.x_billing_period = masked_sets.x_billing_period
        and charges.tag_set = masked_sets.tag_set

),

masked_values as (

    select
        billing_period_start,
        x_source_family,
        BillingCurrency,
        BilledCost,
        EffectiveCost,
        {{ unnest_list('masked_tags') }} as masked
    from masked_charges

),

final as (

    select
        billing_period_start,
        x_source_family as source_family,
        masked.tag_key as tag_key,
        masked.raw_tag_key as raw_tag_key,
        masked.mask_reason as mask_reason,
        masked.masking_rule_id as masking_rule_id,
        BillingCurrency as billing_currency,
        count(*) as charge_count,
        count(distinct masked.masked_value) as masked_value_count,
        {{ money('sum(BilledCost)') }} as billed_cost,
        {{ money('sum(EffectiveCost)') }} as effective_cost
    from masked_values
    group by all

)

select * from final
