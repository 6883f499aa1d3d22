{#
    Each product's own usage cost per day: the effective cost of the Usage charges owned directly (by tag or
    account) with that product. Credits, tax, support and other monthly charges, which land on the first of
    the month, and shared pools are left out, so that a day's figure follows what the product ran that day.
    The daily signal behind incident baselines and the cost-reliability fit.
#}
with

charges_owned as (

    select * from {{ ref('int_charges_owned') }}

),

final as (

    select
        usage_date,
        product,
        {{ money('sum(effective_cost)') }} as usage_effective_cost
    from charges_owned
    where charge_category = 'Usage'
        and ownership in ('direct_tag', 'direct_account')
        and product <> 'unallocated'
    group by all

)

select * from final
