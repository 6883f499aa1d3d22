{#
    Which team owns each product on each day, for the marts that attribute a product's business volumes,
    SLIs and incidents to a team: the product's tag ownership row valid that day (seed ownership, match_key
    'product', first by macro ownership_precedence), else the product's owning_team (seed products).
    The days cover the whole months the business inputs mention (unit drivers, SLIs, incidents). The driver
    split of shared pools (int_shared_pools_split) reads it too.
#}
with

products as (

    select * from {{ ref('products') }}

),

teams as (

    select * from {{ ref('teams') }}

),

ownership as (

    select * from {{ ref('ownership') }}
    where match_type = 'tag' and match_key = 'product'

),

business_dates as (

    select cast(date as date) as business_date from {{ ref('stg_business__unit_drivers') }}
    union all
    select cast(date as date) from {{ ref('stg_business__sli_daily') }}
    union all
    select cast(started_at as date) from {{ ref('stg_business__incidents') }}
    union all
    select cast(ended_at as date) from {{ ref('stg_business__incidents') }}

),

days as (

    -- Whole months, so that a shared pool of any day of a month with business volumes finds its owners.
    select {{ date_series('first_day', 'last_day') }} as date_day
    from (
        select
            date_trunc('month', min(business_date)) as first_day,
            date_trunc('month', max(business_date)) + interval 1 month - interval 1 day as last_day
        from business_dates
        having count(*) > 0
    ) as months

),

product_days as (

    select days.date_day, products.product, products.owning_team
    from days
    cross join products

),

dated_owners as (

    select
        product_days.date_day,
        product_days.product,
        ownership.team,
        ownership.cost_center,
        row_number() over (
            partition by product_days.date_day, product_days.product
            order by {{ ownership_precedence('ownership.') }}
        ) as precedence
    from product_days
    inner join ownership
        on lower(trim(ownership.match_value)) = product_days.product
        and {{ ownership_valid_on('ownership', 'product_days.date_day') }}

),

final as (

    select
        product_days.date_day,
        product_days.product,
        coalesce(dated_owners.team, product_days.owning_team) as team,
        coalesce(dated_owners.cost_center, teams.cost_center) as cost_center,
        case when dated_owners.team is not null then 'ownership' else 'products' end as owner_source
    from product_days
    left join dated_owners
        on product_days.date_day = dated_owners.date_day
        and product_days.product = dated_owners.product
        and dated_owners.precedence = 1
    left join teams
        on coalesce(dated_owners.team, product_days.owning_team) = teams.team

)

select * from final
