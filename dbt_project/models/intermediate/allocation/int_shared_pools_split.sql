{#
    Shared pools divided among teams. A pool is the cost int_charges_owned gave to one allocation rule, per
    usage date, billing account, sub account, service and currency; it keeps those columns, so every share
    stays on the pool's own day and account.

    Recipients and their basis, by the rule's method:
      even          every team with positive direct cost in the basis window and scope, basis 1 each
                    (product 'unallocated', the team's cost center);
      proportional  every team x product x cost center with positive direct effective cost in the basis
                    window and scope, basis that cost;
      driver        every product with a positive volume of the rule's driver (requests, transactions or
                    active_customers in unit_drivers) in the basis window, basis that volume; the product's
                    team is its owner on the pool's date (int_product_owners_daily: an ownership row
                    for tag product, else products.owning_team); drivers are not per account, so the scope does not apply;
      fixed         the rule's rows in allocation_rule_targets, basis the percent (product 'unallocated').
    Basis window: 'day' (the pool's usage date) or 'billing_period' (the whole billing period, for charges
    AWS dates on the first of the month: tax, support, commitment fees). Scope: 'billing_account' or
    'sub_account' (only the pool's own sub account). Direct cost means tag- and account-owned cost only,
    never other pools' shares, so the rule order decides which rule takes a charge and nothing else.

    Shares: weight = basis / total basis (DECIMAL, 12 places, see decimal_ratio); share = pool x weight for
    effective and billed cost alike (one weight per recipient, from effective cost, so a commitment fee's
    cash follows the teams that used it); the remainder pool - sum(shares) goes to the recipient with the
    largest basis (ties: team, product, cost center), so the shares add up to the pool exactly.
    A pool with no recipient (no team had direct cost, no driver volume, no targets) stays whole with team
    'unallocated', method 'unallocated' and its rule id.
#}
with

owned_charges as (

    select * from {{ ref('int_charges_owned') }}

),

rules as (

    select * from {{ ref('allocation_rules') }}

),

rule_targets as (

    select * from {{ ref('allocation_rule_targets') }}

),

teams as (

    select * from {{ ref('teams') }}

),

products as (

    select * from {{ ref('products') }}

),

product_owners as (

    select * from {{ ref('int_product_owners_daily') }}

),

unit_drivers as (

    select * from {{ ref('stg_business__unit_drivers') }}

),

pool_totals as (

    select
        allocation_rule_id,
        billing_period_start,
        usage_date,
        billing_account_id,
        sub_account_id,
        service_name,
        billing_currency,
        sum(effective_cost) as pool_effective_cost,
        sum(billed_cost) as pool_billed_cost
    from owned_charges
    where ownership = 'shared_pool'
    group by
        allocation_rule_id,
        billing_period_start,
        usage_date,
        billing_account_id,
        sub_account_id,
        service_name,
        billing_currency

),

pools as (

    select
        row_number() over (
            order by
                pool_totals.allocation_rule_id,
                pool_totals.billing_period_start,
                pool_totals.usage_date,
                pool_totals.billing_account_id,
                pool_totals.sub_account_id,
                pool_totals.service_name,
                pool_totals.billing_currency
        ) as pool_id,
        pool_totals.*,
        rules.method,
        rules.driver,
        rules.basis_window,
        rules.target_scope,
        case rules.basis_window
            when 'day' then pool_totals.usage_date
            else pool_totals.billing_period_start
        end as window_key,
        case rules.target_scope
            when 'sub_account' then pool_totals.sub_account_id
            else ''
        end as scope_key
    from pool_totals
    inner join rules
        on pool_totals.allocation_rule_id = rules.rule_id

),

direct_costs as (

    select
        billing_period_start,
        usage_date,
        billing_account_id,
        sub_account_id,
        team,
        product,
        cost_center,
        sum(effective_cost) as direct_effective_cost
    from owned_charges
    where ownership in ('direct_tag', 'direct_account')
    group by billing_period_start, usage_date, billing_account_id, sub_account_id, team, product, cost_center

),

-- Direct cost in every basis window x scope a rule can ask for.
direct_bases as (

    {%- for window, window_key in [('day', 'usage_date'), ('billing_period', 'billing_period_start')] %}
    {%- for scope, scope_key in [('billing_account', "''"), ('sub_account', 'sub_account_id')] %}
    select
        '{{ window }}' as basis_window,
        '{{ scope }}' as target_scope,
        billing_period_start,
        {{ window_key }} as window_key,
        billing_account_id,
        {{ scope_key }} as scope_key,
        team,
        product,
        cost_center,
        sum(direct_effective_cost) as basis
    from direct_costs
    group by billing_period_start, {{ window_key }}, billing_account_id, {{ scope_key }}, team, product, cost_center
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

team_bases as (

    select
        basis_window,
        target_scope,
        billing_period_start,
        window_key,
        billing_account_id,
        scope_key,
        team,
        sum(basis) as basis
    from direct_bases
    group by basis_window, target_scope, billing_period_start, window_key, billing_account_id, scope_key, team

),

proportional_recipients as (

    select
        pools.pool_id,
        direct_bases.team,
        direct_bases.product,
        direct_bases.cost_center,
        direct_bases.basis
    from pools
    inner join direct_bases
        on pools.basis_window = direct_bases.basis_window
        and pools.target_scope = direct_bases.target_scope
        and pools.billing_period_start = direct_bases.billing_period_start
        and pools.window_key = direct_bases.window_key
        and pools.billing_account_id = direct_bases.billing_account_id
        and pools.scope_key = direct_bases.scope_key
    where pools.method = 'proportional'
        and direct_bases.basis > 0

),

even_recipients as (

    select
        pools.pool_id,
        team_bases.team,
        'unallocated' as product,
        coalesce(teams.cost_center, 'unallocated') as cost_center,
        1 as basis
    from pools
    inner join team_bases
        on pools.basis_window = team_bases.basis_window
        and pools.target_scope = team_bases.target_scope
        and pools.billing_period_start = team_bases.billing_period_start
        and pools.window_key = team_bases.window_key
        and pools.billing_account_id = team_bases.billing_account_id
        and pools.scope_key = team_bases.scope_key
    left join teams
        on team_bases.team = teams.team
    where pools.method = 'even'
        and team_bases.basis > 0

),

driver_volumes as (

    {%- for driver in ['requests', 'transactions', 'active_customers'] %}
    select
        cast(date as date) as driver_date,
        cast(date_trunc('month', cast(date as date)) as date) as driver_month,
        product,
        '{{ driver }}' as driver,
        {{ driver }} as volume
    from unit_drivers
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

pool_product_volumes as (

    select
        pools.pool_id,
        pools.usage_date,
        driver_volumes.product,
        sum(driver_volumes.volume) as basis
    from pools
    inner join driver_volumes
        on pools.driver = driver_volumes.driver
        and pools.window_key = case pools.basis_window
            when 'day' then driver_volumes.driver_date
            else driver_volumes.driver_month
        end
    where pools.method = 'driver'
    group by pools.pool_id, pools.usage_date, driver_volumes.product
    having sum(driver_volumes.volume) > 0

),

driver_recipients as (

    -- A product's share goes to the team owning the product on the pool's date.
    select
        pool_product_volumes.pool_id,
        coalesce(product_owners.team, products.owning_team, 'unallocated') as team,
        pool_product_volumes.product,
        coalesce(product_owners.cost_center, teams.cost_center, 'unallocated') as cost_center,
        pool_product_volumes.basis
    from pool_product_volumes
    left join product_owners
        on pool_product_volumes.usage_date = product_owners.date_day
        and pool_product_volumes.product = product_owners.product
    left join products
        on pool_product_volumes.product = products.product
    left join teams
        on coalesce(product_owners.team, products.owning_team) = teams.team

),

fixed_recipients as (

    select
        pools.pool_id,
        rule_targets.team,
        'unallocated' as product,
        coalesce(teams.cost_center, 'unallocated') as cost_center,
        rule_targets.percent as basis
    from pools
    inner join rule_targets
        on pools.allocation_rule_id = rule_targets.rule_id
    left join teams
        on rule_targets.team = teams.team
    where pools.method = 'fixed'
        and rule_targets.percent > 0

),

recipients as (

    {%- for method in ['proportional', 'even', 'driver', 'fixed'] %}
    select
        pool_id,
        team,
        product,
        cost_center,
        {{ money('basis') }} as basis
    from {{ method }}_recipients
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

weighted as (

    select
        recipients.*,
        {{ decimal_ratio('recipients.basis', 'sum(recipients.basis) over (partition by recipients.pool_id)') }}
            as weight,
        row_number() over (
            partition by recipients.pool_id
            order by recipients.basis desc, recipients.team, recipients.product,
                recipients.cost_center
        ) as recipient_rank
    from recipients

),

shares as (

    select
        weighted.*,
        pools.pool_effective_cost,
        pools.pool_billed_cost,
        {{ money_product('pools.pool_effective_cost', 'weighted.weight') }} as effective_share,
        {{ money_product('pools.pool_billed_cost', 'weighted.weight') }} as billed_share
    from weighted
    inner join pools
        on weighted.pool_id = pools.pool_id

),

shares_with_remainder as (

    select
        pool_id,
        team,
        product,
        cost_center,
        basis,
        weight,
        effective_share + case
            when recipient_rank = 1 then pool_effective_cost - sum(effective_share) over (partition by pool_id)
            else 0
        end as shared_effective_cost,
        billed_share + case
            when recipient_rank = 1 then pool_billed_cost - sum(billed_share) over (partition by pool_id)
            else 0
        end as shared_billed_cost
    from shares

),

split_pools as (

    select
        pools.pool_id,
        'shared_' || pools.method as allocation_method,
        shares_with_remainder.team,
        shares_with_remainder.product,
        shares_with_remainder.cost_center,
        shares_with_remainder.basis,
        shares_with_remainder.weight,
        shares_with_remainder.shared_effective_cost,
        shares_with_remainder.shared_billed_cost
    from pools
    inner join shares_with_remainder
        on pools.pool_id = shares_with_remainder.pool_id

),

pools_without_recipients as (

    select
        pools.pool_id,
        'unallocated' as allocation_method,
        'unallocated' as team,
        'unallocated' as product,
        'unallocated' as cost_center,
        {{ money('null') }} as basis,
        {{ money('null') }} as weight,
        pools.pool_effective_cost as shared_effective_cost,
        pools.pool_billed_cost as shared_billed_cost
    from pools
    where not exists (
        select 1 from recipients where recipients.pool_id = pools.pool_id
    )

),

all_shares as (

    select * from split_pools
    union all
    select * from pools_without_recipients

),

final as (

    select
        pools.pool_id,
        pools.allocation_rule_id,
        all_shares.allocation_method,
        pools.billing_period_start,
        pools.usage_date,
        pools.billing_account_id,
        pools.sub_account_id,
        pools.service_name,
        pools.billing_currency,
        all_shares.team,
        all_shares.product,
        all_shares.cost_center,
        all_shares.basis,
        cast(all_shares.weight as decimal(38, 12)) as weight,
        pools.pool_effective_cost,
        pools.pool_billed_cost,
        all_shares.shared_effective_cost,
        all_shares.shared_billed_cost
    from all_shares
    inner join pools
        on all_shares.pool_id = pools.pool_id

)

select * from final
