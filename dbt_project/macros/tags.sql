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
    The tag keys allocation reads: the owner keys, and every key the ownership seed matches on
    (``ownership`` is the relation or CTE holding that seed). Masking spares them unless they hold an email.
#}
{% macro allocation_tag_keys(ownership) -%}
    select {{ unnest_values(['team', 'product', 'cost_center', 'env']) }} as tag_key
    union
    select match_key as tag_key from {{ ownership }} where match_type = 'tag'
{%- endmacro %}
