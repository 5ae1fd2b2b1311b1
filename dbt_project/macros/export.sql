{#- `dbt run-operation export_marts --args '{directory: /some/dir}'`: every model in schema marts (the
    marts and audit folders; tables and views) as Parquet under <directory>/<model>/, read from whichever
    target is selected.
    For handing marts to another tool, and for CI, which compares Spark's marts with DuckDB's. -#}
{% macro export_marts(directory) -%}
    {%- for node in graph.nodes.values()
          if node.resource_type == 'model' and node.package_name == project_name and node.config.schema == 'marts' -%}
        {%- set relation = api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- do run_query(export_relation_sql(relation, directory ~ '/' ~ node.name)) -%}
        {{ log('exported ' ~ relation ~ ' -> ' ~ directory ~ '/' ~ node.name, info=true) }}
    {%- endfor -%}
{%- endmacro %}

{% macro export_relation_sql(relation, path) -%}
    {{- return(adapter.dispatch('export_relation_sql', 'ai_analytics_warehouse')(relation, path)) -}}
{%- endmacro %}

{% macro duckdb__export_relation_sql(relation, path) -%}
    copy (select * from {{ relation }}) to '{{ path }}' (format parquet, per_thread_output true, overwrite true)
{%- endmacro %}

{% macro spark__export_relation_sql(relation, path) -%}
    insert overwrite directory '{{ path }}' using parquet select * from {{ relation }}
{%- endmacro %}
