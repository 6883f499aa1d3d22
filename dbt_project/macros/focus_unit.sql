{#
    A unit in FOCUS's UnitFormat: AWS and exporters write abbreviations the format does not allow
    ("GB-Mo", "Hrs", "DPU-Hour", "Lambda-GB-Second", "64K-Chunks", "OCPU Per Hour"). In order:
    "X Per Y" -> "X/Y"; "X/Second-Months" -> "Xps-Months"; "Hrs" -> "Hours"; a trailing "-Mo" -> "-Months";
    a singular time unit after "-" made plural; "64K-Chunks" -> "64 KB Chunks"; with two hyphens, the first
    becomes a space ("Lambda GB-Seconds"). Units already in the format pass through unchanged.
#}
{% macro focus_unit(column) -%}
    {{ adapter.dispatch('focus_unit', 'tfm')(column) }}
{%- endmacro %}

{#
    The rewrites, in order: (pattern, replacement, every match). Patterns are RE2/Java regular expressions with
    single backslashes; a replacement names a group as \1. Each engine writes them in its own syntax below.
#}
{% macro focus_unit_rules() -%}
    {{ return([
        ('\\s+[Pp]er\\s+', '/', true),
        ('/Second-', 'ps-', false),
        ('\\bHrs\\b', 'Hours', true),
        ('-Mo$', '-Months', false),
        ('-(Year|Month|Day|Hour|Minute|Second)$', '-\\1s', false),
        ('^([0-9]+)K-', '\\1 KB ', false),
        ('^([^-]*)-([^-]*-[^-]*)$', '\\1 \\2', false),
    ]) }}
{%- endmacro %}

{% macro default__focus_unit(column) -%}
    {%- set sql = namespace(text='trim(' ~ column ~ ')') -%}
    {%- for pattern, replacement, every in focus_unit_rules() -%}
        {%- set sql.text = "regexp_replace(" ~ sql.text ~ ", '" ~ pattern ~ "', '" ~ replacement ~ "'"
            ~ (", 'g'" if every else "") ~ ")" -%}
    {%- endfor -%}
    {{ sql.text }}
{%- endmacro %}

{#
    Spark: Java's syntax ($1 for a group in the replacement) and backslashes escaped in Spark's string literals.
    Spark replaces every match; the patterns DuckDB replaces once are anchored or match once in a unit.
#}
{% macro spark__focus_unit(column) -%}
    {%- set sql = namespace(text='trim(' ~ column ~ ')') -%}
    {%- for pattern, replacement, every in focus_unit_rules() -%}
        {%- set sql.text = "regexp_replace(" ~ sql.text ~ ", '" ~ pattern | replace('\\', '\\\\') ~ "', '"
            ~ replacement | replace('\\1', '$1') | replace('\\2', '$2') ~ "')" -%}
    {%- endfor -%}
    {{ sql.text }}
{%- endmacro %}
