{#
    How tfm reads tag keys and hides personal tag values, in one place for the tag model and its tests.
#}

{#
    A tag key normalized: trimmed and lower-cased (Unicode-aware), the provider prefix user: (legacy CUR
    headers) or user_ (CUR's Athena and 2.0 map keys) removed, every run of characters that are not letters,
    digits or combining marks of any script (separators, punctuation, whitespace) turned into one underscore,
    underscores trimmed from both ends: 'user:Cost-Center' -> 'cost_center', 'Ümlaut-Key' -> 'ümlaut_key',
    'user:日本語キー' -> '日本語キー'. A key with no letter or digit at all keeps its trimmed, lower-cased
    spelling, so no key is lost.
#}
{% macro normalize_tag_key(column) -%}
    {{ adapter.dispatch('normalize_tag_key', 'tfm')(column) }}
{%- endmacro %}

{% macro default__normalize_tag_key(column) -%}
    coalesce(
        nullif(trim(both '_' from regexp_replace(
            regexp_replace(lower(trim({{ column }})), '^user[:_]', ''),
            '[^\pL\pN\pM]+', '_', 'g'
        )), ''),
        lower(trim({{ column }}))
    )
{%- endmacro %}

{# Spark: Java's regular expressions (the same classes), backslashes escaped in Spark's string literals. #}
{% macro spark__normalize_tag_key(column) -%}
    coalesce(
        nullif(trim(both '_' from regexp_replace(
            regexp_replace(lower(trim({{ column }})), '^user[:_]', ''),
            '[^\\pL\\pN\\pM]+', '_'
        )), ''),
        lower(trim({{ column }}))
    )
{%- endmacro %}

{#
    The stable, non-reversible stand-in for a personal tag value: 'masked:' and the first 8 hex digits of the
    value's SHA-256, so charges with the same value still group together.
#}
{% macro masked_tag_value(column) -%}
    {{ adapter.dispatch('masked_tag_value', 'tfm')(column) }}
{%- endmacro %}

{% macro default__masked_tag_value(column) -%}
    'masked:' || left(sha256({{ column }}), 8)
{%- endmacro %}

{% macro spark__masked_tag_value(column) -%}
    'masked:' || left(sha2({{ column }}, 256), 8)
{%- endmacro %}

{#
    The key of a charge's tag set: the provider's tags as JSON text, which no two different sets share, prefixed by
    where they came from ('map:' for CUR's tag map, 'text:' for a FOCUS Tags value, parsed as JSON); NULL for a
    charge without tags. int_charge_tags_normalized normalizes each set once and is keyed by it; the FOCUS mart and
    the masking report join their charges to it through this same expression, so a join of many charges meets a
    few thousand sets (a hash table that fits in memory) instead of one row per charge.
#}
{% macro tag_set_key(raw_tag_map, tags) -%}
    case
        when cardinality({{ raw_tag_map }}) > 0 then 'map:' || cast(to_json({{ raw_tag_map }}) as string)
        when {{ raw_tag_map }} is null then 'text:' || cast({{ try_json(tags) }} as string)
    end
{%- endmacro %}

{#
    The tag keys allocation reads: the owner keys, and every key the ownership seed matches on
    (``ownership`` is the relation or CTE holding that seed). Masking spares them unless they hold an email.
#}
{% macro allocation_tag_keys(ownership) -%}
    select {{ unnest_values(['team', 'product', 'cost_center', 'env']) }} as tag_key
    union
    select match_key as tag_key from {{ ownership }} where match_type = 'tag'
{%- endmacro %}
