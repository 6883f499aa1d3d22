{#
    The teams costs are allocated to (seed teams), plus the 'unallocated' member that holds what no
    ownership row or allocation rule could give to a team.
#}
with

teams as (

    select * from {{ ref('teams') }}

),

unallocated as (

    select
        'unallocated' as team,
        'Unallocated' as team_name,
        'unallocated' as cost_center,
        cast(null as string) as business_unit,
        true as is_unallocated

),

final as (

    select
        team,
        team_name,
        cost_center,
        business_unit,
        false as is_unallocated
    from teams
    union all
    select * from unallocated

)

select * from final
