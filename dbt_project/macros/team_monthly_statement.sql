{#
    The invoice-like statement per team and billing period that chargeback (on billed_cost) and showback (on
    effective_cost) share: direct and shared cost per allocation method, from fct_cost_allocation.
#}
{% macro team_monthly_statement(cost_column) %}
with

allocation as (

    select * from {{ ref('fct_cost_allocation') }}

),

teams as (

    select * from {{ ref('dim_teams') }}

),

team_months as (

    select
        billing_period_start,
        team,
        cost_center,
        billing_currency,
        sum(case when allocation_method = 'direct_tag' then {{ cost_column }} else 0 end) as direct_tag_cost,
        sum(case when allocation_method = 'direct_account' then {{ cost_column }} else 0 end) as direct_account_cost,
        sum(case when allocation_method = 'shared_even' then {{ cost_column }} else 0 end) as shared_even_cost,
        sum(case when allocation_method = 'shared_proportional' then {{ cost_column }} else 0 end) as shared_proportional_cost,
        sum(case when allocation_method = 'shared_driver' then {{ cost_column }} else 0 end) as shared_driver_cost,
        sum(case when allocation_method = 'shared_fixed' then {{ cost_column }} else 0 end) as shared_fixed_cost,
        sum(case when allocation_method = 'unallocated' then {{ cost_column }} else 0 end) as unallocated_cost,
        sum({{ cost_column }}) as total_cost,
        {{ distinct_values_list('allocation_method') }} as allocation_methods,
        {{ distinct_values_list('allocation_rule_id') }} as allocation_rule_ids
    from allocation
    group by billing_period_start, team, cost_center, billing_currency

),

final as (

    select
        team_months.billing_period_start,
        team_months.team,
        teams.team_name,
        team_months.cost_center,
        team_months.billing_currency,
        {{ money('team_months.direct_tag_cost') }} as direct_tag_cost,
        {{ money('team_months.direct_account_cost') }} as direct_account_cost,
        {{ money('team_months.direct_tag_cost + team_months.direct_account_cost') }} as direct_cost,
        {{ money('team_months.shared_even_cost') }} as shared_even_cost,
        {{ money('team_months.shared_proportional_cost') }} as shared_proportional_cost,
        {{ money('team_months.shared_driver_cost') }} as shared_driver_cost,
        {{ money('team_months.shared_fixed_cost') }} as shared_fixed_cost,
        {{ money('team_months.shared_even_cost + team_months.shared_proportional_cost'
            ~ ' + team_months.shared_driver_cost + team_months.shared_fixed_cost') }} as shared_cost,
        {{ money('team_months.unallocated_cost') }} as unallocated_cost,
        {{ money('team_months.total_cost') }} as total_cost,
        cast(round(100 * (team_months.total_cost - team_months.direct_tag_cost - team_months.direct_account_cost
            - team_months.unallocated_cost) / nullif(team_months.total_cost, 0), 4) as decimal(18, 4)) as shared_cost_pct,
        cast(round(100 * team_months.total_cost / nullif(sum(team_months.total_cost) over (
            partition by team_months.billing_period_start, team_months.billing_currency), 0), 4) as decimal(18, 4))
            as period_share_pct,
        team_months.allocation_methods,
        team_months.allocation_rule_ids
    from team_months
    left join teams
        on team_months.team = teams.team

)

select * from final
{% endmacro %}
