{#
    Seeds on Spark. dbt-spark's session connection pastes a seed's values into its INSERT unquoted (a value with
    a quote breaks the statement, and is read as SQL) and passes numbers as floats. This loads each value as an
    escaped string literal (quote_literal) cast to the column's type, so text stays text and decimals stay
    exact. Overrides dbt-spark's spark__load_csv_rows (the root project's macro is found first).
#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set batch_size = get_batch_size() -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for col_name in agate_table.column_names -%}
        {%- do types.append(column_override.get(col_name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(batch_size) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for value in row -%}
                    cast({{ 'null' if value is none else quote_literal(value) }} as {{ types[loop.index0] }})
                    {{- ', ' if not loop.last }}
                {%- endfor -%}){{ ',' if not loop.last }}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.index0 == 0 -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{% endmacro %}
