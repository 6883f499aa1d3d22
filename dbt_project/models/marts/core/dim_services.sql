{#
    The services seen in the charges, one row per ServiceName, with the FOCUS category, subcategory and
    provider. A service charged under more than one category (AWS KMS as Security and Identity, say) takes the
    one most of its charges carry (ties: alphabetical); service_categories lists them all.
#}
with

charges as (

    select * from {{ ref('fct_focus_charges') }}

),

service_variants as (

    select
        ServiceName as service_name,
        ServiceCategory as service_category,
        ServiceSubcategory as service_subcategory,
        ProviderName as provider_name,
        count(*) as charge_count
    from charges
    group by ServiceName, ServiceCategory, ServiceSubcategory, ProviderName

),

ranked as (

    select
        *,
        row_number() over (
            partition by service_name
            order by charge_count desc, service_category, service_subcategory, provider_name
        ) as variant_rank,
        sum(charge_count) over (partition by service_name) as service_charge_count
    from service_variants

),

categories as (

    select
        service_name,
        {{ distinct_values_list('service_category') }} as service_categories
    from service_variants
    group by service_name

),

final as (

    select
        ranked.service_name,
        ranked.service_category,
        ranked.service_subcategory,
        ranked.provider_name,
        categories.service_categories,
        cast(ranked.service_charge_count as bigint) as charge_count
    from ranked
    inner join categories
        on ranked.service_name = categories.service_name
    where ranked.variant_rank = 1

)

select * from final
