{#
    A value of one of FOCUS's closed lists, in the specification's spelling, when the input differs only in
    case, spaces or hyphens (e.g. "Usage-based", "usage based"); other values pass through unchanged so
    that tests can flag them.
#}
{% macro focus_closed_value(column, allowed) -%}
    case lower({{ adapter.dispatch('strip_separators', 'tfm')('trim(' ~ column ~ ')') }})
        {%- for value in allowed %}
        when {{ quote_literal(value | lower | replace("-", "") | replace(" ", "")) }} then {{ quote_literal(value) }}
        {%- endfor %}
        else {{ column }}
    end
{%- endmacro %}

{# Text without its whitespace, underscores and hyphens. #}
{% macro default__strip_separators(text) -%}
    regexp_replace({{ text }}, '[\s_-]+', '', 'g')
{%- endmacro %}

{% macro spark__strip_separators(text) -%}
    regexp_replace({{ text }}, '[\\s_-]+', '')
{%- endmacro %}
