{#
    Incremental by billing period.

    The models that hold one row per charge (and the allocation built on them) are incremental: a build
    rebuilds only the billing periods whose raw data changed, and replaces each of them whole, in one
    transaction (strategy replace_periods below), never appending. Which periods:

    - the var tfm_periods, a list of 'YYYY-MM', when given (dbt build --vars '{tfm_periods: [2026-03]}');
    - else the table meta.dbt_build_plan, which tfm build fills from the ingest ledger for the time of its
      dbt steps (orchestration/incremental.py): one row per period to rebuild, or a single row with a NULL
      period when nothing changed. A table rather than a var, because dbt parses the whole project again
      whenever a var changes;
    - else (dbt run by hand) every period, as a full build would.
    - --full-refresh (tfm build --full-refresh, or tfm's own choice when the project changed) rebuilds every
      incremental model from scratch.

    A model opts in (dbt_project.yml) with materialized incremental, incremental_strategy replace_periods,
    on_schema_change fail and meta.billing_period, the SQL expression of its own columns that gives a row's
    billing period (the first day of its month); it filters what it reads with
    billing_period_filter('<the same for its input>').
#}

{% macro billing_periods_to_build() %}
    {#- The periods to rebuild as 'YYYY-MM-01' strings, or none for every period. -#}
    {%- set periods = var('tfm_periods', none) -%}
    {%- if periods is none and execute -%}
        {%- set plan = adapter.get_relation(database=target.database, schema='meta', identifier='dbt_build_plan') -%}
        {%- if plan is not none -%}
            {%- set rows = run_query("select distinct " ~ year_month('billing_period') ~ " from " ~ plan
                ~ " where billing_period is not null") -%}
            {%- set active = run_query("select count(*) from " ~ plan) -%}
            {%- if active.rows[0][0] > 0 -%}
                {%- set periods = rows.columns[0].values() | list -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {%- if periods is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if periods is string -%}
        {%- set periods = periods.split(',') | map('trim') | reject('equalto', '') | list -%}
    {%- endif -%}
    {%- set days = [] -%}
    {%- for period in periods -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-(0[1-9]|1[0-2])', period | string) -%}
            {{ exceptions.raise_compiler_error("'" ~ period ~ "' is not a billing period (YYYY-MM)") }}
        {%- endif -%}
        {%- do days.append(period ~ '-01') -%}
    {%- endfor -%}
    {{ return(days | unique | sort) }}
{% endmacro %}


{% macro billing_period_predicate(column) %}
    {#- True for the rows of the periods to rebuild; every row when tfm_periods is not set. -#}
    {%- set days = billing_periods_to_build() -%}
    {%- if days is none -%}
        true
    {%- elif days | length == 0 -%}
        false
    {%- else -%}
        {{ column }} in ({% for day in days %}date '{{ day }}'{% if not loop.last %}, {% endif %}{% endfor %})
    {%- endif -%}
{% endmacro %}


{% macro billing_period_filter(column) %}
    {#- In an incremental build, keep only the periods to rebuild; in a full build (and a unit test, which has
        no relation of its own to be incremental on), everything. -#}
    {%- if this is not none and is_incremental() -%}
        {{ billing_period_predicate(column) }}
    {%- else -%}
        true
    {%- endif -%}
{% endmacro %}


{% macro get_incremental_replace_periods_sql(arg_dict) %}
    {#- Replace whole billing periods: delete the target's rows of the periods rebuilt, insert the new ones. -#}
    {%- set period = (config.get('meta') or {}).get('billing_period') -%}
    {%- if not period -%}
        {{ exceptions.raise_compiler_error("incremental_strategy 'replace_periods' needs meta.billing_period") }}
    {%- endif -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }} where {{ billing_period_predicate(period) }};
    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{% endmacro %}


{% macro year_month(column) %}
    {#- A date's month as text, 'YYYY-MM'. -#}
    {{- adapter.dispatch('year_month', 'tfm')(column) -}}
{% endmacro %}

{% macro default__year_month(column) -%}
    strftime({{ column }}, '%Y-%m')
{%- endmacro %}

{% macro spark__year_month(column) -%}
    date_format({{ column }}, 'yyyy-MM')
{%- endmacro %}


{% macro clear_periods_to_rebuild() %}
    {#- Spark (a pre-hook of every incremental model): dbt-spark's insert_overwrite replaces only the partitions
        its new rows fall in (dynamic partition overwrite), so a billing period left with no rows (pruned, or
        emptied by a restatement) would keep its old ones. Before the insert, with no list of periods (every
        period rebuilt), the whole table is overwritten (static mode); with a list, those periods' partitions are
        dropped first. Plain parquet tables have no transactions: a build that fails here leaves the periods
        missing until the next build, never stale. On DuckDB, replace_periods deletes and inserts in one
        transaction, and this renders nothing. -#}
    {%- if target.type == 'spark' and execute and is_incremental() -%}
        {%- set column = config.get('partition_by') -%}
        {%- if column is not string or not column -%}
            {{ exceptions.raise_compiler_error("clear_periods_to_rebuild needs the model's partition_by column") }}
        {%- endif -%}
        {%- set days = billing_periods_to_build() -%}
        {%- if days is none -%}
            {%- do run_query('set spark.sql.sources.partitionOverwriteMode = STATIC') -%}
        {%- else -%}
            {%- for day in days -%}
                {%- do run_query('alter table ' ~ this ~ ' drop if exists partition (' ~ quote_identifier(column)
                    ~ ' = ' ~ quote_literal(day) ~ ')') -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
