{#
    Who owns each charge of fct_focus_charges, in this order:
      1. tag      an ownership row with match_type 'tag' whose match_key's value in the charge's normalized
                  tags equals match_value (trimmed, case-insensitive), valid on the usage date;
      2. account  an ownership row with match_type 'account' for the charge's sub account (or billing
                  account), valid on the usage date;
      3. rule     for a charge nobody owns, the first allocation rule (by rule_order) whose pool filters
                  all match: its cost is a shared pool that int_shared_pools_split divides among teams;
      4. nothing  the charge stays with team 'unallocated'.
    Within a step the lowest priority wins, then a sub account row over a billing account row (macro
    ownership_precedence). The usage date is the UTC date
    of ChargePeriodStart; validity is valid_from inclusive, valid_to exclusive, an empty bound open.
    An owned charge's product is the ownership row's product, else its product tag when that names a known
    product, else 'unallocated'; its cost center is the row's cost_center, else the team's.

    Owners and rules are decided once per signature, the columns they read (usage date, accounts, service,
    charge category, tags), then joined back to the charges: a month has millions of charges and far fewer
    signatures. Ranking the candidates of every charge ran out of a 4 GB memory limit at 10M charges.
#}
with

charges as {{ not_materialized() }} (

    select
        x_source_file,
        x_source_row,
        x_charge_origin,
        cast(ChargePeriodStart as date) as usage_date,
        cast(BillingPeriodStart as date) as billing_period_start,
        BillingAccountId as billing_account_id,
        SubAccountId as sub_account_id,
        ServiceName as service_name,
        ServiceCategory as service_category,
        ChargeCategory as charge_category,
        BillingCurrency as billing_currency,
        x_tags as tags,
        lower(trim(x_product)) as tagged_product,
        EffectiveCost as effective_cost,
        BilledCost as billed_cost
    from {{ ref('fct_focus_charges') }}
    where {{ billing_period_filter('x_billing_period') }}

),

-- What ownership and the allocation rules read of a charge, numbered once (materialized, so that every
-- reference sees the same numbers).
signatures as {{ always_materialized() }} (

    select
        {{ row_number_in_any_order(['usage_date', 'billing_account_id', 'sub_account_id', 'service_name',
            'service_category', 'charge_category', 'tags']) }} as signature_id,
        *
    from (
        select distinct
            usage_date, billing_account_id, sub_account_id, service_name, service_category, charge_category,
            {{ comparable_map('tags') }} as tags
        from charges
    ) as distinct_signatures

),

ownership as (

    select * from {{ ref('ownership') }}

),

teams as (

    select * from {{ ref('teams') }}

),

products as (

    select * from {{ ref('products') }}

),

rules as (

    select * from {{ ref('allocation_rules') }}

),

tag_candidates as (

    select
        signatures.signature_id,
        1 as step,
        ownership.priority,
        ownership.match_key,
        ownership.match_value,
        ownership.team,
        ownership.product,
        ownership.cost_center
    from signatures
    inner join ownership
        on ownership.match_type = 'tag'
        and lower(trim({{ string_map_value(map_from_comparable('signatures.tags'), 'ownership.match_key') }}))
            = lower(trim(ownership.match_value))
        and {{ ownership_valid_on('ownership', 'signatures.usage_date') }}

),

account_candidates as (

    select
        signatures.signature_id,
        2 as step,
        ownership.priority,
        ownership.match_key,
        ownership.match_value,
        ownership.team,
        ownership.product,
        ownership.cost_center
    from signatures
    inner join ownership
        on {{ ownership_matches_account('ownership', 'signatures.billing_account_id', 'signatures.sub_account_id') }}
        and {{ ownership_valid_on('ownership', 'signatures.usage_date') }}

),

owner_candidates as (

    select * from tag_candidates
    union all
    select * from account_candidates

),

owner_candidates_ranked as (

    select
        *,
        row_number() over (
            partition by signature_id
            order by step, {{ ownership_precedence() }}
        ) as precedence
    from owner_candidates

),

owners as (

    select * from owner_candidates_ranked
    where precedence = 1

),

unowned_signatures as (

    select signatures.*
    from signatures
    left join owners
        on signatures.signature_id = owners.signature_id
    where owners.team is null

),

rule_candidates as (

    select
        unowned_signatures.signature_id,
        rules.rule_id,
        row_number() over (
            partition by unowned_signatures.signature_id
            order by rules.rule_order, rules.rule_id
        ) as precedence
    from unowned_signatures
    inner join rules
        on (rules.charge_category is null or rules.charge_category = unowned_signatures.charge_category)
        and (rules.service_category is null or rules.service_category = unowned_signatures.service_category)
        and (rules.service_name is null or rules.service_name = unowned_signatures.service_name)
        and (rules.billing_account_id is null or rules.billing_account_id = unowned_signatures.billing_account_id)
        and (rules.sub_account_id is null or rules.sub_account_id = unowned_signatures.sub_account_id)

),

rule_matches as (

    select * from rule_candidates
    where precedence = 1

),

final as (

    select
        charges.x_source_file,
        charges.x_source_row,
        charges.x_charge_origin,
        charges.usage_date,
        charges.billing_period_start,
        charges.billing_account_id,
        charges.sub_account_id,
        charges.service_name,
        charges.service_category,
        charges.charge_category,
        charges.billing_currency,
        case
            when owners.step = 1 then 'direct_tag'
            when owners.step = 2 then 'direct_account'
            when rule_matches.rule_id is not null then 'shared_pool'
            else 'unallocated'
        end as ownership,
        coalesce(owners.team, 'unallocated') as team,
        case
            when owners.team is null then 'unallocated'
            else coalesce(owners.product, products.product, 'unallocated')
        end as product,
        case
            when owners.team is null then 'unallocated'
            else coalesce(owners.cost_center, teams.cost_center, 'unallocated')
        end as cost_center,
        rule_matches.rule_id as allocation_rule_id,
        charges.effective_cost,
        charges.billed_cost
    from charges
    inner join signatures
        on charges.usage_date is not distinct from signatures.usage_date
        and charges.billing_account_id is not distinct from signatures.billing_account_id
        and charges.sub_account_id is not distinct from signatures.sub_account_id
        and charges.service_name is not distinct from signatures.service_name
        and charges.service_category is not distinct from signatures.service_category
        and charges.charge_category is not distinct from signatures.charge_category
        and {{ comparable_map('charges.tags') }} is not distinct from signatures.tags
    left join owners
        on signatures.signature_id = owners.signature_id
    left join rule_matches
        on signatures.signature_id = rule_matches.signature_id
    left join teams
        on owners.team = teams.team
    left join products
        on charges.tagged_product = products.product

)

select * from final
