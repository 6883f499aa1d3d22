{{ config(severity = 'error') }}
{#
    Cost conservation: per source file and billing period, the FOCUS table's BilledCost equals the raw cash
    cost and its EffectiveCost equals the amortized cost recomputed from the raw rows, to the cent. Returns
    the (file, period) pairs that differ, or that exist on one side only.
#}
with

raw_cur as (
    {%- for family in ['aws_cur_legacy', 'aws_cur_athena', 'aws_cur2'] %}
    select
        _source_file as source_file,
        _billing_period as billing_period,
        sum(coalesce(line_item_net_unblended_cost, line_item_unblended_cost, 0)) as billed_cost,
        sum({{ aws_cur_amortized_cost() }}) as effective_cost
    from {{ source(family, 'line_items') }}
    group by all
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

raw_focus as (
    select
        _source_file as source_file,
        _billing_period as billing_period,
        sum(BilledCost) as billed_cost,
        sum(EffectiveCost) as effective_cost
    from {{ source('focus', 'charges') }}
    group by all
),

raw_totals as (
    select * from raw_cur
    union all
    select * from raw_focus
),

focus_totals as (
    select
        x_source_file as source_file,
        x_billing_period as billing_period,
        sum(BilledCost) as billed_cost,
        sum(EffectiveCost) as effective_cost
    from {{ ref('fct_focus_charges') }}
    group by all
)

select
    coalesce(raw_totals.source_file, focus_totals.source_file) as source_file,
    coalesce(raw_totals.billing_period, focus_totals.billing_period) as billing_period,
    raw_totals.billed_cost as raw_billed_cost,
    focus_totals.billed_cost as focus_billed_cost,
    raw_totals.effective_cost as raw_effective_cost,
    focus_totals.effective_cost as focus_effective_cost
from raw_totals
full outer join focus_totals
    on raw_totals.source_file = focus_totals.source_file
    and raw_totals.billing_period = focus_totals.billing_period
where raw_totals.source_file is null
    or focus_totals.source_file is null
    or abs(raw_totals.billed_cost - focus_totals.billed_cost) >= 0.005
    or abs(raw_totals.effective_cost - focus_totals.effective_cost) >= 0.005
