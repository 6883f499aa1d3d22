{#
    The amortized cost of one raw CUR row, by its line item type (the FinOps Foundation converter's rule,
    per row): what the FOCUS rows made from that row must add up to in EffectiveCost. Used only by the
    conservation tests, which recompute it from the raw tables, independently of the models.
#}
{% macro aws_cur_amortized_cost() -%}
    case line_item_line_item_type
        when 'SavingsPlanCoveredUsage'
            then coalesce(savings_plan_net_savings_plan_effective_cost, savings_plan_savings_plan_effective_cost, 0)
        when 'SavingsPlanRecurringFee'
            then coalesce(savings_plan_total_commitment_to_date, 0) - coalesce(savings_plan_used_commitment, 0)
        when 'SavingsPlanNegation' then 0
        when 'SavingsPlanUpfrontFee' then 0
        when 'DiscountedUsage' then coalesce(reservation_net_effective_cost, reservation_effective_cost, 0)
        when 'RIFee'
            then coalesce(reservation_net_unused_amortized_upfront_fee_for_billing_period,
                          reservation_unused_amortized_upfront_fee_for_billing_period, 0)
                + coalesce(reservation_net_unused_recurring_fee, reservation_unused_recurring_fee, 0)
        when 'Fee'
            then case
                when coalesce(reservation_reservation_a_r_n, '') <> '' or coalesce(savings_plan_savings_plan_a_r_n, '') <> ''
                    then 0
                else coalesce(line_item_net_unblended_cost, line_item_unblended_cost, 0)
            end
        else coalesce(line_item_net_unblended_cost, line_item_unblended_cost, 0)
    end
{%- endmacro %}
