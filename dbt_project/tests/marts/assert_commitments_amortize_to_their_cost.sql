{{ config(severity = 'error') }}
{#
    Per commitment and billing period, the amortized usage (Used + Unused EffectiveCost) equals the
    commitment's cost for the period, recomputed from the raw fee lines: for a Reserved Instance, the
    amortized upfront fee for the period plus the recurring fee (RIFee lines); for a Savings Plan, the total
    commitment to date (SavingsPlanRecurringFee lines). Returns the commitments that differ by a cent or more.
#}
with

commitment_costs as (
    {%- for family in ['aws_cur_legacy', 'aws_cur_athena', 'aws_cur2'] %}
    select
        _billing_period as billing_period,
        coalesce(nullif(reservation_reservation_a_r_n, ''), nullif(savings_plan_savings_plan_a_r_n, '')) as commitment_id,
        sum(case
            when line_item_line_item_type = 'RIFee'
                then coalesce(reservation_amortized_upfront_fee_for_billing_period, 0)
                    + coalesce(line_item_unblended_cost, 0)
            else coalesce(savings_plan_total_commitment_to_date, 0)
        end) as commitment_cost
    from {{ source(family, 'line_items') }}
    where line_item_line_item_type in ('RIFee', 'SavingsPlanRecurringFee')
    group by all
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

amortized as (
    select
        x_billing_period as billing_period,
        CommitmentDiscountId as commitment_id,
        sum(EffectiveCost) as amortized_cost
    from {{ ref('fct_focus_charges') }}
    where CommitmentDiscountStatus in ('Used', 'Unused')
        and x_source_family <> 'focus'
    group by all
)

select commitment_costs.*, amortized.amortized_cost
from commitment_costs
left join amortized
    on commitment_costs.billing_period = amortized.billing_period
    and commitment_costs.commitment_id = amortized.commitment_id
where abs(commitment_costs.commitment_cost - coalesce(amortized.amortized_cost, 0)) >= 0.005
