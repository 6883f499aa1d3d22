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

{% macro default__focus_unit(column) -%}
    regexp_replace(
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    regexp_replace(
                        regexp_replace(
                            regexp_replace(trim({{ column }}), '\s+[Pp]er\s+', '/', 'g'),
                            '/Second-', 'ps-'),
                        '\bHrs\b', 'Hours', 'g'),
                    '-Mo$', '-Months'),
                '-(Year|Month|Day|Hour|Minute|Second)$', '-\1s'),
            '^([0-9]+)K-', '\1 KB '),
        '^([^-]*)-([^-]*-[^-]*)$', '\1 \2')
{%- endmacro %}

{#
    Spark: the same expressions in Java's syntax ($1 for a group in the replacement, backslashes escaped in
    Spark's string literals). Spark replaces every match; the patterns DuckDB replaces once are anchored or match
    once in a unit.
#}
{% macro spark__focus_unit(column) -%}
    regexp_replace(
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    regexp_replace(
                        regexp_replace(
                            regexp_replace(trim({{ column }}), '\\s+[Pp]er\\s+', '/'),
                            '/Second-', 'ps-'),
                        '\\bHrs\\b', 'Hours'),
                    '-Mo$', '-Months'),
                '-(Year|Month|Day|Hour|Minute|Second)$', '-$1s'),
            '^([0-9]+)K-', '$1 KB '),
        '^([^-]*)-([^-]*-[^-]*)$', '$1 $2')
{%- endmacro %}
