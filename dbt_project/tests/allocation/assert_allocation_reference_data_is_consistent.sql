{{ config(severity = 'error') }}
{#
    The reference data the allocation reads is usable: ownership rows of one key and value do not overlap
    in time and end after they start; every fixed rule has targets adding up to 100 percent and only fixed
    rules have targets; every driver rule names a driver. Returns one row per problem.
#}
with

ownership as (

    select * from {{ ref('ownership') }}

),

rules as (

    select * from {{ ref('allocation_rules') }}

),

rule_targets as (

    select * from {{ ref('allocation_rule_targets') }}

),

overlapping_ownership as (

    select
        'ownership rows overlap' as problem,
        earlier.match_type || ' ' || earlier.match_key || '=' || earlier.match_value as subject
    from ownership as earlier
    inner join ownership as later
        on earlier.match_type = later.match_type
        and earlier.match_key = later.match_key
        and lower(trim(earlier.match_value)) = lower(trim(later.match_value))
        and coalesce(earlier.valid_from, date '0001-01-01') < coalesce(later.valid_from, date '0001-01-01')
        and (earlier.valid_to is null or earlier.valid_to > coalesce(later.valid_from, date '0001-01-01'))

),

empty_ownership_periods as (

    select
        'ownership row ends before it starts' as problem,
        match_type || ' ' || match_key || '=' || match_value as subject
    from ownership
    where valid_to <= valid_from

),

fixed_rule_totals as (

    select
        rules.rule_id,
        rules.method,
        coalesce(sum(rule_targets.percent), 0) as total_percent,
        count(rule_targets.team) as target_count
    from rules
    left join rule_targets
        on rules.rule_id = rule_targets.rule_id
    group by rules.rule_id, rules.method

),

bad_targets as (

    select
        case
            when method = 'fixed' then 'fixed rule targets do not add up to 100 percent'
            else 'targets on a rule that is not fixed'
        end as problem,
        rule_id as subject
    from fixed_rule_totals
    where (method = 'fixed' and total_percent <> 100)
        or (method <> 'fixed' and target_count > 0)

),

driver_rules_without_driver as (

    select
        'driver rule without a driver' as problem,
        rule_id as subject
    from rules
    where method = 'driver'
        and driver is null

),

final as (

    select * from overlapping_ownership
    union all
    select * from empty_ownership_periods
    union all
    select * from bad_targets
    union all
    select * from driver_rules_without_driver

)

select * from final
