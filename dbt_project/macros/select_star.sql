{#
    Star selects that DuckDB writes with its own syntax, for both engines.

    star_replace, used with call: every column of the relation in scope, some of them replaced by the
    expressions of the call's body, each written `<expression> as <column>` and separated by commas:

        select {% call star_replace() %} lower(a) as a, b + 1 as b {% endcall %} from t

    DuckDB: * replace (...). Spark, which has no replace: with `columns` (the relation's columns in order) each
    column in its place, replaced where the body says; without, * except (the replaced columns) followed by the
    replacements, which moves them to the end (fine where columns are then read by name). `relation` qualifies
    the star (cleaned.*).
#}
{% macro star_replace(columns=none, relation=none) -%}
    {{ adapter.dispatch('star_replace', 'tfm')(caller(), columns, relation) }}
{%- endmacro %}

{% macro default__star_replace(body, columns, relation) -%}
    {{ relation ~ '.' if relation }}* replace ({{ body }})
{%- endmacro %}

{% macro spark__star_replace(body, columns, relation) -%}
    {%- set replacements = {} -%}
    {%- set names = [] -%}
    {%- set start = namespace(at=0) -%}
    {%- for match in modules.re.finditer('\\bas\\s+(\\w+)\\s*(,|$)', body | trim) -%}
        {%- do replacements.update({match.group(1) | lower: (body | trim)[start.at:match.start()] | trim}) -%}
        {%- do names.append(match.group(1)) -%}
        {%- set start.at = match.end() -%}
    {%- endfor -%}
    {%- if columns -%}
        {%- for column in columns -%}
            {{ replacements[column | lower] if column | lower in replacements else (relation ~ '.' if relation) ~ column }} as {{ column }}
            {{- ',\n        ' if not loop.last }}
        {%- endfor -%}
    {%- else -%}
        {{ relation ~ '.' if relation }}* except ({{ names | join(', ') }}),
        {% for name in names %}{{ replacements[name | lower] }} as {{ name }}{{ ',\n        ' if not loop.last }}{% endfor %}
    {%- endif -%}
{%- endmacro %}

{# Every column of the relation in scope but some: DuckDB's * exclude, Spark's * except. #}
{% macro star_except(names) -%}
    {{ adapter.dispatch('star_except', 'tfm')(names) }}
{%- endmacro %}

{% macro default__star_except(names) -%}
    * exclude ({{ names | join(', ') }})
{%- endmacro %}

{% macro spark__star_except(names) -%}
    * except ({{ names | join(', ') }})
{%- endmacro %}

{#
    union all by name of relations (or CTEs that select * from a relation), each a (name, relation, extra
    columns) triple: the CTE or relation name to select from, the relation whose columns it has, and a dict of
    columns to add (name: SQL expression). A column missing from a relation is NULL. DuckDB: union all by name.
    Spark, which has no union by name: each select lists every column, in the order of their first appearance.
#}
{% macro union_all_by_name(parts) -%}
    {{ adapter.dispatch('union_all_by_name', 'tfm')(parts) }}
{%- endmacro %}

{% macro default__union_all_by_name(parts) -%}
    {%- for name, relation, extra in parts %}
    select *{% for column, expression in extra.items() %}, {{ expression }} as {{ column }}{% endfor %} from {{ name }}
    {%- if not loop.last %}
    union all by name
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{% macro spark__union_all_by_name(parts) -%}
    {%- set all_columns = [] -%}
    {%- set seen = [] -%}
    {%- set part_columns = [] -%}
    {%- for name, relation, extra in parts -%}
        {%- set names = [] -%}
        {%- for column in relation_column_names(relation) + (extra.keys() | list) -%}
            {%- do names.append(column | lower) -%}
            {%- if column | lower not in seen -%}
                {%- do seen.append(column | lower) -%}
                {%- do all_columns.append(column) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do part_columns.append(names) -%}
    {%- endfor -%}
    {%- for name, relation, extra in parts %}
    {%- set names = part_columns[loop.index0] %}
    select
        {%- for column in all_columns %}
        {% if column in extra -%}
        {{ extra[column] }}
        {%- elif column | lower in names -%}
        {{ column }}
        {%- else -%}
        null
        {%- endif %} as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ name }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
