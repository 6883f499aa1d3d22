-- Allocation reads the team, product, cost_center and env tags and every tag key the ownership seed matches on;
-- int_charge_tags_normalized masks them only for an email, so a key rule of tag_masking_rules naming one of them
-- would silently do nothing. Returns each such rule with the key it names.
with

rules as (

    select * from {{ ref('tag_masking_rules') }}

),

ownership as (

    select * from {{ ref('ownership') }}

),

allocation_keys as (

    {{ allocation_tag_keys('ownership') }}

),

final as (

    select
        rules.rule_id,
        rules.key_pattern,
        allocation_keys.tag_key
    from rules
    inner join allocation_keys
        on {{ regexp_full_match('allocation_keys.tag_key', 'rules.key_pattern') }}
    where rules.key_pattern is not null

)

select * from final
