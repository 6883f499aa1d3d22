{#
    Chargeback: what each team is invoiced per billing period, on billed (cash) cost: BilledCost as the
    provider invoices it, commitment purchases counted when they are paid, not amortized.
    One row per billing period x team x cost center x currency, built from fct_cost_allocation: the cost the team
    owns directly (by tag, by account), its shares of the shared pools by method, and, on team 'unallocated',
    what nobody owns. The rows of a billing period add up to the FOCUS total of that period.
#}
{{ team_monthly_statement('billed_cost') }}
