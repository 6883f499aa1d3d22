{#
    How an ownership row (seed ownership) applies, in one place for every model that reads the seed.
#}

{# The row is valid on a day: valid_from inclusive, valid_to exclusive, an empty bound open. #}
{% macro ownership_valid_on(ownership, day) -%}
    ({{ ownership }}.valid_from is null or {{ day }} >= {{ ownership }}.valid_from)
    and ({{ ownership }}.valid_to is null or {{ day }} < {{ ownership }}.valid_to)
{%- endmacro %}

{# An 'account' row names this sub account (match_key sub_account_id) or billing account (billing_account_id). #}
{% macro ownership_matches_account(ownership, billing_account_id, sub_account_id) -%}
    {{ ownership }}.match_type = 'account'
    and {{ ownership }}.match_value = case {{ ownership }}.match_key
        when 'sub_account_id' then {{ sub_account_id }}
        when 'billing_account_id' then {{ billing_account_id }}
    end
{%- endmacro %}

{#
    Order of the candidate rows of one charge (or account, or product-day), first wins: lowest priority, then
    a sub account row before a billing account row (the more specific), then match_key and match_value.
    prefix: the relation the columns come from, with its dot ('ownership.'), or '' for bare columns.
#}
{% macro ownership_precedence(prefix='') -%}
    {{ prefix }}priority,
    case {{ prefix }}match_key when 'sub_account_id' then 0 else 1 end,
    {{ prefix }}match_key,
    lower(trim({{ prefix }}match_value))
{%- endmacro %}
