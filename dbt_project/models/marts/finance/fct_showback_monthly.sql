{#
    Showback: what each team consumed per billing period, on effective (amortized) cost: EffectiveCost,
    commitment purchases spread over the usage they cover, the unused part of a commitment shared as a pool.
    One row per billing period x team x cost center x currency, built from fct_cost_allocation: the cost the team
    owns directly (by tag, by account), its shares of the shared pools by method, and, on team 'unallocated',
    what nobody owns. The rows of a billing period add up to the FOCUS total of that period.
#}
{{ team_monthly_statement('effective_cost') }}
