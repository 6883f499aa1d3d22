{#
    Invoices as the provider issued them (raw.invoices), renamed and cast. The close's reconciliation joins
    them to marts.fct_focus_charges: sum(BilledCost) per BillingAccountId and billing period against
    sum(invoice_total) per billing_account_id and billing_period_start (an account may get several invoices
    in a month).
#}
with

source as (

    select * from {{ source('business', 'invoices') }}

),

renamed as (

    select
        {{ cast_text('invoice_id') }} as invoice_id,
        {{ cast_text('billing_account_id') }} as billing_account_id,
        cast(billing_period as date) as billing_period_start,
        {{ cast_text('currency') }} as currency,
        cast(total as decimal(38, 18)) as invoice_total,
        cast(_source_file as string) as source_file,
        {{ cast_text('provider') }} as provider,
        cast(issued_at as timestamp) as issued_at,

        -- lineage
        cast(_file_checksum as string) as file_checksum,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at

    from source

)

select * from renamed
