{#
    Billing accounts and the sub accounts seen under them in the charges, one row per pair, with names
    (the most recent the charges carry), the provider, the date range of their charges, and their owner by
    account (seed ownership, match_type 'account') on the last day they have charges. An account with no
    owner row is 'unowned': its untagged cost reaches the allocation rules or stays unallocated.
#}
with

charges as (

    select * from {{ ref('fct_focus_charges') }}

),

ownership as (

    select * from {{ ref('ownership') }}

),

teams as (

    select * from {{ ref('teams') }}

),

account_charges as (

    select
        BillingAccountId as billing_account_id,
        SubAccountId as sub_account_id,
        ProviderName as provider_name,
        BillingAccountName as billing_account_name,
        SubAccountName as sub_account_name,
        cast(ChargePeriodStart as date) as usage_date
    from charges

),

accounts as (

    select
        billing_account_id,
        sub_account_id,
        {{ value_at_max('provider_name', 'usage_date') }} as provider_name,
        {{ value_at_max('billing_account_name', 'usage_date') }} as billing_account_name,
        {{ value_at_max('sub_account_name', 'usage_date') }} as sub_account_name,
        min(usage_date) as first_usage_date,
        max(usage_date) as last_usage_date
    from account_charges
    group by billing_account_id, sub_account_id

),

owner_candidates as (

    select
        accounts.billing_account_id,
        accounts.sub_account_id,
        ownership.team,
        ownership.cost_center,
        ownership.valid_from,
        row_number() over (
            partition by accounts.billing_account_id, accounts.sub_account_id
            order by {{ ownership_precedence('ownership.') }}
        ) as precedence
    from accounts
    inner join ownership
        on {{ ownership_matches_account('ownership', 'accounts.billing_account_id', 'accounts.sub_account_id') }}
        and {{ ownership_valid_on('ownership', 'accounts.last_usage_date') }}

),

final as (

    select
        accounts.billing_account_id,
        accounts.sub_account_id,
        accounts.billing_account_name,
        accounts.sub_account_name,
        accounts.provider_name,
        accounts.sub_account_id = accounts.billing_account_id as is_billing_account,
        case when owners.team is null then 'unowned' else 'owned' end as ownership_status,
        owners.team as owner_team,
        coalesce(owners.cost_center, teams.cost_center) as owner_cost_center,
        owners.valid_from as owner_valid_from,
        accounts.first_usage_date,
        accounts.last_usage_date
    from accounts
    left join owner_candidates as owners
        on accounts.billing_account_id = owners.billing_account_id
        and accounts.sub_account_id = owners.sub_account_id
        and owners.precedence = 1
    left join teams
        on owners.team = teams.team

)

select * from final
