{#
    The FinOps KPIs, one row per billing month for the organization (scope 'organization', team NULL) and one
    per team and month (scope 'team') for the KPIs that apply to a team. Effective (amortized) cost unless
    stated; each formula is in the column's description. The parts come from the marts that own them:

    - cost and unallocated spend: fct_cost_allocation (the unallocated bucket is team 'unallocated');
    - cost per transaction: fct_unit_economics' day rows; a team's products are those it owns that day
      (int_product_owners_daily), so a product changing hands mid-month is split by day. A team with under
      var kpi_low_volume_transaction_share_pct (1%) of the organization's transactions is flagged
      (low_transaction_volume): its cost per transaction divides all of its products' cost by a handful of
      transactions, and does not compare with the other teams';
    - budget: fct_budget_burn's latest day of the month; the organization sums the teams (and the
      unallocated bucket's cost, which no budget covers);
    - cost per SLO: fct_cost_per_slo; a service-month belongs to the team that owned it on most of its days;
    - commitments and savings: fct_commitment_kpis for the organization (all usage, net of the unused
      commitments); for a team, the usage it owns directly (int_charges_owned). The unused commitments and the
      usage no team owns directly are split by the shared-cost rules, so no team's savings hold them and the
      teams' savings do not add up to the organization's: direct_savings_realized is the organization's on the
      teams' basis (their sum), and savings_basis says which basis a row's savings_realized is on;
    - cost of incidents: fct_incident_costs, by the month the incident started;
    - tag coverage: usage charges with a ResourceId in a service category that seed tag_policy governs;
    - anomaly_count: fct_cost_anomalies, by the month the episode started; a team's are those whose
      tagged usage moved most (primary_team);
    - forecast_accuracy_pct: the month-ahead forecast (fct_cost_forecasts, made as of the month before's
      last day) of the month's total against the actual total (fct_daily_cost_series), for complete months.
#}
{#- The dimensions its relationships tests read: declared so that a build split around the Python models
    runs those tests in the step that builds this mart (dbt's "buildable" selection runs a test once every
    model it reads is selected or upstream of the selection). #}
-- depends_on: {{ ref('dim_teams') }}
-- depends_on: {{ ref('dim_dates') }}
with

allocation as (

    select * from {{ ref('fct_cost_allocation') }}

),

unit_economics as (

    select * from {{ ref('fct_unit_economics') }}
    where period_grain = 'day'

),

budget_burn as (

    select * from {{ ref('fct_budget_burn') }}
    where is_latest

),

cost_per_slo as (

    select * from {{ ref('fct_cost_per_slo') }}

),

incident_costs as (

    select * from {{ ref('fct_incident_costs') }}

),

commitment_kpis as (

    select * from {{ ref('fct_commitment_kpis') }}

),

product_owners as (

    select * from {{ ref('int_product_owners_daily') }}

),

charges_owned as (

    select * from {{ ref('int_charges_owned') }}

),

focus_charges as (

    select * from {{ ref('fct_focus_charges') }}

),

tag_policy as (

    select * from {{ ref('tag_policy') }}

),

cost_anomalies as (

    select * from {{ ref('fct_cost_anomalies') }}

),

cost_forecasts as (

    select * from {{ ref('fct_cost_forecasts') }}
    where series_level in ('organization', 'team')

),

daily_cost as (

    select * from {{ ref('fct_daily_cost_series') }}
    where series_level in ('organization', 'team')

),

teams as (

    select * from {{ ref('teams') }}

),

-- The grain: every billing month, for the organization and for every team.
months as (

    select distinct billing_period_start from allocation

),

scopes as (

    select months.billing_period_start, 'organization' as scope, cast(null as string) as team
    from months
    union all
    select months.billing_period_start, 'team' as scope, teams.team
    from months
    cross join teams

),

-- Cost, and what no rule could give to a team.
team_costs as (

    select
        billing_period_start,
        team,
        sum(effective_cost) as effective_cost,
        sum(billed_cost) as billed_cost,
        sum(shared_effective_cost) as shared_effective_cost
    from allocation
    group by all

),

costs as (

    select
        billing_period_start,
        'organization' as scope,
        cast(null as string) as team,
        sum(effective_cost) as effective_cost,
        sum(billed_cost) as billed_cost,
        sum(case when team <> 'unallocated' then shared_effective_cost else 0 end) as shared_effective_cost,
        sum(case when team = 'unallocated' then effective_cost else 0 end) as unallocated_effective_cost
    from team_costs
    group by all
    union all
    select billing_period_start, 'team', team, effective_cost, billed_cost, shared_effective_cost, null
    from team_costs
    where team <> 'unallocated'

),

-- Cost per transaction: product cost over product transactions, a product-day counting for its owner.
product_days as (

    select
        cast(date_trunc('month', unit_economics.period_start) as date) as billing_period_start,
        product_owners.team,
        unit_economics.effective_cost,
        unit_economics.transactions
    from unit_economics
    left join product_owners
        on unit_economics.period_start = product_owners.date_day
        and unit_economics.product = product_owners.product

),

transactions as (

    select billing_period_start, 'organization' as scope, cast(null as string) as team,
        sum(effective_cost) as product_effective_cost, sum(transactions) as transactions
    from product_days
    group by all
    union all
    select billing_period_start, 'team', team, sum(effective_cost), sum(transactions)
    from product_days
    where team is not null
    group by all

),

-- Budget: month-to-date cost against budget on the last day of the month the data reaches.
budgets as (

    select billing_period_start, 'organization' as scope, cast(null as string) as team,
        sum(budget_amount) as budget_amount, sum(mtd_effective_cost) as budget_actual_cost
    from budget_burn
    group by all
    union all
    select billing_period_start, 'team', team, budget_amount, mtd_effective_cost
    from budget_burn
    where team <> 'unallocated'

),

-- Cost per SLO: a service-month's cost over the requests every one of its SLIs counted good.
service_month_owners as (

    select
        cast(date_trunc('month', date_day) as date) as month_start,
        product as service,
        team,
        row_number() over (
            partition by date_trunc('month', date_day), product
            order by count(*) desc, max(date_day) desc
        ) as precedence
    from product_owners
    group by date_trunc('month', date_day), product, team

),

service_months as (

    select
        cost_per_slo.month_start as billing_period_start,
        cost_per_slo.service,
        service_month_owners.team,
        max(cost_per_slo.effective_cost) as effective_cost,
        min(cost_per_slo.good_events) as compliant_requests,
        count(*) as slo_count,
        count(*) filter (where cost_per_slo.slo_met) as slos_met
    from cost_per_slo
    left join service_month_owners
        on cost_per_slo.month_start = service_month_owners.month_start
        and cost_per_slo.service = service_month_owners.service
        and service_month_owners.precedence = 1
    group by all

),

slos as (

    select billing_period_start, 'organization' as scope, cast(null as string) as team,
        sum(effective_cost) as slo_service_cost, sum(compliant_requests) as slo_compliant_requests,
        sum(slo_count) as slo_count, sum(slos_met) as slos_met
    from service_months
    group by all
    union all
    select billing_period_start, 'team', team, sum(effective_cost), sum(compliant_requests),
        sum(slo_count), sum(slos_met)
    from service_months
    where team is not null
    group by all

),

-- Incidents: excess cost over the expected baseline, by the month they started.
incidents as (

    select month_start as billing_period_start, 'organization' as scope, cast(null as string) as team,
        count(*) as incident_count, count(excess_cost) as incidents_costed, sum(excess_cost) as cost_of_incidents
    from incident_costs
    group by all
    union all
    select month_start, 'team', team, count(*), count(excess_cost), sum(excess_cost)
    from incident_costs
    where team is not null
    group by all

),

-- Charges with their direct owner, for savings and tag coverage.
owned_charges as (

    select
        charges_owned.billing_period_start,
        charges_owned.team,
        focus_charges.x_source_file,
        focus_charges.x_source_row,
        focus_charges.x_charge_origin,
        focus_charges.ChargeCategory as charge_category,
        focus_charges.CommitmentDiscountStatus as commitment_status,
        focus_charges.x_line_item_type as line_item_type,
        focus_charges.ServiceCategory as service_category,
        focus_charges.ResourceId as resource_id,
        focus_charges.x_tags as tags,
        focus_charges.ListCost as list_cost,
        focus_charges.EffectiveCost as effective_cost
    from charges_owned
    inner join focus_charges
        on charges_owned.x_source_file = focus_charges.x_source_file
        and charges_owned.x_source_row = focus_charges.x_source_row
        and charges_owned.x_charge_origin = focus_charges.x_charge_origin

),

team_savings as (

    select
        billing_period_start,
        'team' as scope,
        team,
        sum(case when commitment_status is distinct from 'Unused' then list_cost else 0 end)
            - sum(effective_cost) as savings_realized,
        sum(case when commitment_status is distinct from 'Unused' then list_cost else 0 end) as list_cost
    from owned_charges
    where charge_category = 'Usage'
        and coalesce(line_item_type, '') <> 'SavingsPlanNegation'
        and team <> 'unallocated'
    group by all

),

commitments as (

    select
        billing_period_start,
        'organization' as scope,
        cast(null as string) as team,
        100 * sum(unused_commitment_cost) / nullif(sum(total_commitment_cost), 0) as unused_commitment_pct,
        sum(savings_realized) as savings_realized,
        sum(savings_realized) / nullif(sum(list_cost), 0) as effective_savings_rate
    from commitment_kpis
    group by all
    union all
    select billing_period_start, scope, team, null, savings_realized, savings_realized / nullif(list_cost, 0)
    from team_savings

),

-- Savings on the teams' basis, for every scope: a team's own, and for the organization the sum of the teams'.
direct_savings as (

    select billing_period_start, 'organization' as scope, cast(null as string) as team,
        sum(savings_realized) as direct_savings_realized
    from team_savings
    group by all
    union all
    select billing_period_start, scope, team, savings_realized
    from team_savings

),

taggable_key_checks as (

    select
        owned_charges.billing_period_start,
        owned_charges.team,
        owned_charges.x_source_file,
        owned_charges.x_source_row,
        owned_charges.x_charge_origin,
        owned_charges.effective_cost,
        bool_and(nullif(trim({{ string_map_value('owned_charges.tags', 'tag_policy.required_tag_key') }}), '') is not null)
            as has_every_required_key
    from owned_charges
    inner join tag_policy
        on owned_charges.service_category = tag_policy.service_category
    where owned_charges.charge_category = 'Usage'
        and owned_charges.resource_id is not null
    group by all

),

tag_coverage as (

    select billing_period_start, 'organization' as scope, cast(null as string) as team,
        sum(effective_cost) as taggable_cost,
        sum(case when has_every_required_key then effective_cost else 0 end) as tag_compliant_cost
    from taggable_key_checks
    group by all
    union all
    select billing_period_start, 'team', team, sum(effective_cost),
        sum(case when has_every_required_key then effective_cost else 0 end)
    from taggable_key_checks
    where team <> 'unallocated'
    group by all

),

-- Anomaly episodes by the month they started.
anomalies as (

    select billing_period_start, 'organization' as scope, cast(null as string) as team, count(*) as anomaly_count
    from cost_anomalies
    group by all
    union all
    select billing_period_start, 'team', primary_team, count(*)
    from cost_anomalies
    where primary_team is not null
    group by all

),

-- The month-ahead forecast of each month's total (made as of the month before's last day) against the
-- actual total, for months the data covers to their last day. Currencies are added up, as for every KPI.
month_ahead_forecasts as (

    select
        cast(date_trunc('month', forecast_day) as date) as billing_period_start,
        series_level,
        series_key,
        sum(forecast_cost) as forecast_cost
    from cost_forecasts
    where forecast_date = cast(date_trunc('month', forecast_day) as date) - 1
    group by all

),

complete_months as (

    select cast(date_trunc('month', usage_date) as date) as billing_period_start
    from daily_cost
    where series_level = 'organization'
    group by all
    having max(usage_date) = last_day(min(usage_date))

),

actual_months as (

    select
        cast(date_trunc('month', usage_date) as date) as billing_period_start,
        series_level,
        series_key,
        sum(effective_cost) as actual_cost
    from daily_cost
    group by all

),

forecast_accuracy as (

    select
        actual_months.billing_period_start,
        case when actual_months.series_level = 'organization' then 'organization' else 'team' end as scope,
        case when actual_months.series_level = 'team' then actual_months.series_key end as team,
        100 * (1 - abs(actual_months.actual_cost - month_ahead_forecasts.forecast_cost)
            / nullif(actual_months.actual_cost, 0)) as forecast_accuracy_pct
    from actual_months
    inner join month_ahead_forecasts
        on actual_months.billing_period_start = month_ahead_forecasts.billing_period_start
        and actual_months.series_level = month_ahead_forecasts.series_level
        and actual_months.series_key = month_ahead_forecasts.series_key
    inner join complete_months
        on actual_months.billing_period_start = complete_months.billing_period_start
    where actual_months.actual_cost > 0

),

final as (

    select
        scopes.billing_period_start,
        scopes.scope,
        scopes.team,
        {{ money('coalesce(costs.effective_cost, 0)') }} as effective_cost,
        {{ money('coalesce(costs.billed_cost, 0)') }} as billed_cost,
        {{ money('coalesce(costs.shared_effective_cost, 0)') }} as shared_effective_cost,
        {{ money('costs.unallocated_effective_cost') }} as unallocated_effective_cost,
        cast(100 * costs.unallocated_effective_cost / nullif(costs.effective_cost, 0) as double) as unallocated_pct,
        {{ money('transactions.product_effective_cost') }} as product_effective_cost,
        cast(transactions.transactions as bigint) as transactions,
        cast(transactions.product_effective_cost / nullif(transactions.transactions, 0) as double)
            as cost_per_transaction,
        cast(100 * transactions.transactions / nullif(organization_transactions.transactions, 0) as double)
            as transaction_share_pct,
        case
            when scopes.scope = 'organization' or transactions.transactions is null then null
            else 100 * transactions.transactions
                < {{ var('kpi_low_volume_transaction_share_pct', 1) }} * organization_transactions.transactions
        end as low_transaction_volume,
        {{ money('budgets.budget_amount') }} as budget_amount,
        {{ money('budgets.budget_actual_cost') }} as budget_actual_cost,
        cast(100 * budgets.budget_actual_cost / nullif(budgets.budget_amount, 0) as double) as budget_consumed_pct,
        cast(100 * (budgets.budget_actual_cost - budgets.budget_amount) / nullif(budgets.budget_amount, 0) as double)
            as budget_variance_pct,
        {{ budget_alert_level('budgets.budget_actual_cost', 'budgets.budget_amount') }} as budget_alert_level,
        cast(slos.slo_count as integer) as slo_count,
        cast(slos.slos_met as integer) as slos_met,
        cast(slos.slo_compliant_requests as bigint) as slo_compliant_requests,
        cast(slos.slo_service_cost / nullif(slos.slo_compliant_requests, 0) as double) as cost_per_slo_compliant_request,
        cast(commitments.unused_commitment_pct as double) as unused_commitment_pct,
        {{ money('commitments.savings_realized') }} as savings_realized,
        cast(commitments.effective_savings_rate as double) as effective_savings_rate,
        {{ money('direct_savings.direct_savings_realized') }} as direct_savings_realized,
        case
            when commitments.savings_realized is null then null
            when scopes.scope = 'organization'
                then 'all usage, net of unused commitments; teams add up to direct_savings_realized'
            else 'usage the team owns directly; shared costs and unused commitments are not in it'
        end as savings_basis,
        cast(coalesce(incidents.incident_count, 0) as integer) as incident_count,
        cast(coalesce(incidents.incidents_costed, 0) as integer) as incidents_costed,
        {{ money('incidents.cost_of_incidents') }} as cost_of_incidents,
        {{ money('tag_coverage.taggable_cost') }} as taggable_cost,
        {{ money('tag_coverage.tag_compliant_cost') }} as tag_compliant_cost,
        cast(100 * tag_coverage.tag_compliant_cost / nullif(tag_coverage.taggable_cost, 0) as double)
            as tag_coverage_pct,
        cast(coalesce(anomalies.anomaly_count, 0) as integer) as anomaly_count,
        cast(forecast_accuracy.forecast_accuracy_pct as double) as forecast_accuracy_pct
    from scopes
    {%- for part in ['costs', 'transactions', 'budgets', 'slos', 'commitments', 'direct_savings', 'incidents',
                     'tag_coverage', 'anomalies', 'forecast_accuracy'] %}
    left join {{ part }}
        on scopes.billing_period_start = {{ part }}.billing_period_start
        and scopes.scope = {{ part }}.scope
        and scopes.team is not distinct from {{ part }}.team
    {%- endfor %}
    left join transactions as organization_transactions
        on scopes.billing_period_start = organization_transactions.billing_period_start
        and organization_transactions.scope = 'organization'

)

select * from final
