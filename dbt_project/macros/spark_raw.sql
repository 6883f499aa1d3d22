{#
    The raw layer on Spark: the parquet datasets orchestration/spark_raw.py writes from a tfm warehouse,
    registered as external tables <schema>.<table> in the session's catalog (dbt run-operation
    create_raw_tables --args '{tables: [{schema, name, location, partitioned}, ...]}'; the module runs it).
    A partitioned dataset has one folder per billing period (_billing_period=YYYY-MM-01, ingest's own
    column), whose partitions are registered after the table. On DuckDB ingest writes the raw tables itself.
#}
{% macro create_raw_tables(tables) %}
    {{ return(adapter.dispatch('create_raw_tables', 'tfm')(tables)) }}
{% endmacro %}

{% macro default__create_raw_tables(tables) %}
    {{ exceptions.raise_compiler_error("create_raw_tables is for Spark; on DuckDB, tfm ingest writes the raw tables") }}
{% endmacro %}

{% macro spark__create_raw_tables(tables) %}
    {%- for table in tables -%}
        {%- set relation = quote_identifier(table['schema']) ~ '.' ~ quote_identifier(table['name']) -%}
        {%- do run_query('create schema if not exists ' ~ quote_identifier(table['schema'])) -%}
        {%- do run_query('drop table if exists ' ~ relation) -%}
        {%- do run_query('create table ' ~ relation ~ ' using parquet location ' ~ quote_literal(table['location'])) -%}
        {%- if table['partitioned'] -%}
            {%- do run_query('msck repair table ' ~ relation) -%}
        {%- endif -%}
        {{ log('created ' ~ relation ~ ' (' ~ table['rows'] ~ ' rows)', info=true) }}
    {%- endfor -%}
{% endmacro %}
