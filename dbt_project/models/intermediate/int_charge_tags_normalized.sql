{#
    Tags normalized per charge: keys trimmed, lower-cased, provider prefixes removed (user: in legacy CUR
    headers, user_ in CUR's Athena and 2.0 map keys), separators turned into underscores, then aliases merged
    through the tag_key_aliases seed (env, Env, environment -> env). When two raw keys of one charge land on
    the same key, the value of the alphabetically first raw key wins. One row per charge that has tags.
#}
with

charges as (

    select x_source_file, x_source_row, x_charge_origin, x_raw_tag_map
    from {{ ref('int_focus_charges_unioned') }}
    where cardinality(x_raw_tag_map) > 0

),

aliases as (

    select * from {{ ref('tag_key_aliases') }}

),

unnested as (

    select
        x_source_file,
        x_source_row,
        x_charge_origin,
        {{ unnest_map('x_raw_tag_map', 'raw_key', 'tag_value') }}
    from charges

),

entries as (

    select
        *,
        trim(both '_' from regexp_replace(
            regexp_replace(lower(trim(raw_key)), '^user[:_]', ''),
            '[^a-z0-9]+', '_', 'g'
        )) as normalized_key
    from unnested
    where nullif(trim(tag_value), '') is not null

),

canonical as (

    select
        entries.*,
        coalesce(aliases.canonical_tag_key, entries.normalized_key) as tag_key
    from entries
    left join aliases on entries.normalized_key = aliases.tag_key
    where entries.normalized_key <> ''

),

deduplicated as (

    select
        x_source_file,
        x_source_row,
        x_charge_origin,
        tag_key,
        arg_min(trim(tag_value), raw_key) as tag_value
    from canonical
    group by all

),

final as (

    select
        x_source_file,
        x_source_row,
        x_charge_origin,
        {{ aggregate_string_map('tag_key', 'tag_value') }} as tag_map
    from deduplicated
    group by all

)

select * from final
