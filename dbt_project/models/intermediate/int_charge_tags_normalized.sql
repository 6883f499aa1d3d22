{#
    Tags normalized, with personal values masked: one row per billing period and distinct tag set (the provider's
    tags of a charge, macro tag_set_key), with how many charges carry it. Charges share their tags (every line item
    of a resource carries the resource's tags), so a month of millions of charges has a few thousand sets; the FOCUS
    mart joins each charge to its set through tag_set_key, a join whose build side fits in memory at any scale.

    - Keys (macro normalize_tag_key): trimmed, lower-cased, provider prefixes removed (user: in legacy CUR
      headers, user_ in CUR's Athena and 2.0 map keys), every run of characters other than letters, digits and
      combining marks of any script turned into one underscore ('Ümlaut-Key' -> 'ümlaut_key',
      'user:日本語キー' -> '日本語キー'), then aliases merged through the tag_key_aliases seed (env, Env,
      environment -> env). No key is dropped. When two raw keys of one set land on the same key, the value
      of the alphabetically first raw key wins. Values are trimmed; empty values are dropped.
    - Personal values (seed tag_masking_rules: email addresses, keys naming a person, AWS IAM users and
      role sessions) are replaced by a stable token (macro masked_tag_value) in tag_map and in the provider's
      tags, masked_raw_tags. The allocation keys (team, product, cost_center, env and the tag keys of the
      ownership seed) are masked by email rules only. Rules are matched once per distinct key and value.
    - A FOCUS Tags value that is JSON but not an object is checked as one value, under no key.

    Columns: tag_set, the key; charge_count; tag_map, the normalized tags (masked); masked_raw_tags, the
    provider's tags as JSON with the masked values replaced, NULL when nothing was masked; masked_tags, one entry
    per masked value (raw key, normalized key, reason, rule, token), NULL when nothing was masked.
#}
with

charges as (

    select
        x_billing_period,
        {{ tag_set_key('x_raw_tag_map', 'Tags') }} as tag_set,
        x_raw_tag_map,
        case when x_raw_tag_map is null then cast({{ try_json('Tags') }} as string) end as unparsed_tags
    from {{ ref('int_focus_charges_unioned') }}
    where {{ billing_period_filter('x_billing_period') }}

),

-- Each distinct tag set is normalized and masked once, whatever the number of charges and periods carrying it.
sets_by_period as (

    select
        x_billing_period,
        tag_set,
        count(*) as charge_count,
        any_value(x_raw_tag_map) as x_raw_tag_map,
        any_value(unparsed_tags) as unparsed_tags
    from charges
    where tag_set is not null
    group by x_billing_period, tag_set

),

tag_sets as (

    select tag_set, any_value(x_raw_tag_map) as x_raw_tag_map, any_value(unparsed_tags) as unparsed_tags
    from sets_by_period
    group by tag_set

),

aliases as (

    select * from {{ ref('tag_key_aliases') }}

),

rules as (

    select * from {{ ref('tag_masking_rules') }}

),

ownership as (

    select * from {{ ref('ownership') }}

),

allocation_keys as (

    {{ allocation_tag_keys('ownership') }}

),

unnested as (

    select
        tag_set,
        {{ unnest_map('x_raw_tag_map', 'raw_key', 'raw_value', 'key_position') }}
    from tag_sets
    where x_raw_tag_map is not null

    union all

    select
        tag_set,
        cast(null as string) as raw_key,
        unparsed_tags as raw_value,
        1 as key_position
    from tag_sets
    where unparsed_tags is not null

),

-- Keys are normalized once per distinct key (a few hundred), not once per charge and key (millions).
normalized_keys as (

    select
        raw_keys.raw_key,
        coalesce(aliases.canonical_tag_key, {{ normalize_tag_key('raw_keys.raw_key') }}) as tag_key
    from (select distinct raw_key from unnested where raw_key is not null) as raw_keys
    left join aliases
        on {{ normalize_tag_key('raw_keys.raw_key') }} = aliases.tag_key

),

entries as (

    select
        unnested.*,
        normalized_keys.tag_key,
        nullif(trim(unnested.raw_value), '') as tag_value
    from unnested
    left join normalized_keys
        on unnested.raw_key = normalized_keys.raw_key

),

distinct_tags as (

    select distinct tag_key, tag_value
    from entries
    where tag_value is not null

),

masked_tags_by_rule as (

    select
        distinct_tags.tag_key,
        distinct_tags.tag_value,
        {{ value_at_min('rules.rule_id', 'rules.rule_order') }} as masking_rule_id,
        {{ value_at_min('rules.mask_reason', 'rules.rule_order') }} as mask_reason
    from distinct_tags
    inner join rules
        on (rules.key_pattern is null or {{ regexp_full_match('distinct_tags.tag_key', 'rules.key_pattern') }})
        and (rules.value_pattern is null or {{ regexp_contains('distinct_tags.tag_value', 'rules.value_pattern') }})
    left join allocation_keys
        on distinct_tags.tag_key = allocation_keys.tag_key
    where rules.mask_reason = 'email' or allocation_keys.tag_key is null
    group by distinct_tags.tag_key, distinct_tags.tag_value

),

classified as (

    select
        entries.*,
        masked_tags_by_rule.masking_rule_id,
        masked_tags_by_rule.mask_reason,
        case when masked_tags_by_rule.mask_reason is not null
            then {{ masked_tag_value('entries.tag_value') }}
        end as masked_value,
        -- the raw key whose value the normalized key keeps: the alphabetically first with a value
        entries.raw_key is not null and entries.tag_value is not null and row_number() over (
            partition by entries.tag_set, entries.tag_key, entries.raw_key is null or entries.tag_value is null
            order by entries.raw_key
        ) = 1 as is_kept
    from entries
    left join masked_tags_by_rule
        on entries.tag_key is not distinct from masked_tags_by_rule.tag_key
        and entries.tag_value = masked_tags_by_rule.tag_value

),

normalized_sets as (

    select
        tag_set,
        {{ aggregate_string_map('tag_key', 'coalesce(masked_value, tag_value)', where='is_kept') }} as tag_map,
        case
            when count(masked_value) = 0 then null
            when bool_or(raw_key is null) then {{ text_to_json('max(masked_value)') }}
            else {{ string_map_to_json(aggregate_string_map(
                'raw_key', 'coalesce(masked_value, raw_value)', order_column='key_position')) }}
        end as masked_raw_tags,
        {{ ordered_list(
            struct_of([('raw_tag_key', 'raw_key'), ('tag_key', 'tag_key'), ('mask_reason', 'mask_reason'),
                ('masking_rule_id', 'masking_rule_id'), ('masked_value', 'masked_value')]),
            'key_position', where='masked_value is not null') }} as masked_tags
    from classified
    group by tag_set

),

final as (

    select
        sets_by_period.x_billing_period,
        sets_by_period.tag_set,
        sets_by_period.charge_count,
        normalized_sets.tag_map,
        normalized_sets.masked_raw_tags,
        normalized_sets.masked_tags
    from sets_by_period
    inner join normalized_sets
        on sets_by_period.tag_set = normalized_sets.tag_set

)

select * from final
