{#- The Parquet lake is the interface between the loader and every engine. Where it lives: AIW_LAKE_URI
    (an object-store URI such as s3a://bucket/aiw/lake when the engine is a cluster), else $AIW_HOME/lake.
    Spark resolves a relative path against its own warehouse directory: give it an absolute one (`aiw`
    always sets AIW_HOME to an absolute path). -#}
{% macro lake_root() -%}
    {{- env_var('AIW_LAKE_URI', env_var('AIW_HOME', '.aiw') ~ '/lake') | trim | replace('\\', '/') -}}
{%- endmacro %}

{#- on-run-start: make the lake's directories queryable as the `lake` sources.
    DuckDB reads them through each source's meta.external_location (read_parquet): nothing to do.
    Spark needs catalog tables: see spark__register_lake_tables. -#}
{% macro register_lake_tables() -%}
    {{ return(adapter.dispatch('register_lake_tables', 'ai_analytics_warehouse')()) }}
{%- endmacro %}

{% macro default__register_lake_tables() -%}
{%- endmacro %}

{#- Every `lake` source with meta.lake_path becomes an EXTERNAL table (dropping it never touches the files)
    over that directory, partitioned by the loader's load_date, on every dbt invocation:
      1. infer the schema from the files themselves (mergeSchema: a column added by a later load appears);
      2. drop and re-create the table with that schema, partitioned by load_date, at the directory;
      3. `msck repair table`: register every load_date= partition on disk. Without it the table has no
         rows, and a partition written by a later load would stay invisible.
    Cost: a footer read per file and a directory listing, i.e. seconds even for thousands of loads. -#}
{% macro spark__register_lake_tables() -%}
    {%- if execute -%}
    {%- for source in graph.sources.values()
          if source.package_name == project_name and source.source_name == 'lake' and source.meta.get('lake_path') -%}
        {%- set location = lake_root() ~ '/' ~ source.meta['lake_path'] -%}
        {%- set partition_column = source.meta.get('lake_partition', 'load_date') -%}
        {%- set table = source.schema ~ '.' ~ source.identifier -%}
        {%- do run_query("create or replace temporary view aiw_lake_probe using parquet options (path '"
                         ~ location ~ "', mergeSchema 'true')") -%}
        {%- set names = [] -%}
        {%- set columns = [] -%}
        {%- for row in run_query('describe aiw_lake_probe').rows -%}
            {%- if row[0] and not row[0].startswith('#') and row[0] not in names -%}
                {%- do names.append(row[0]) -%}
                {%- do columns.append('`' ~ row[0] ~ '` ' ~ row[1]) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do run_query('create schema if not exists ' ~ source.schema) -%}
        {%- do run_query('drop table if exists ' ~ table) -%}
        {#- lake_partition "" : one directory of files, no partitions to register. -#}
        {%- do run_query('create table ' ~ table ~ ' ('
                         ~ columns | join(', ')
                         ~ ") using parquet "
                         ~ ("partitioned by (" ~ partition_column ~ ") " if partition_column else "")
                         ~ "location '" ~ location ~ "'") -%}
        {%- if partition_column -%}
        {%- do run_query('msck repair table ' ~ table) -%}
        {%- endif -%}
        {%- do run_query('drop view if exists aiw_lake_probe') -%}
        {{ log('lake: ' ~ table ~ ' -> ' ~ location, info=true) }}
    {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- A lake relation that has every column in `columns` ([name, SQL type] pairs), null where no file has it.
    The lake keeps files as they were loaded: files written before a contract version added a field have no
    such column, and a lake holding only such files has none at all (docs/contract.md, upgrading to 1.2).
    DuckDB: UNION ALL BY NAME with an empty relation of those columns fills what is missing with NULL and
    changes nothing else (filters and projections still reach the Parquet scan). -#}
{% macro lake_with_columns(relation, columns) -%}
    {{ return(adapter.dispatch('lake_with_columns', 'ai_analytics_warehouse')(relation, columns)) }}
{%- endmacro %}

{#- Spark: register_lake_tables infers the schema of the files with mergeSchema; a column no file has yet is
    missing there (load one 1.2 record first). -#}
{% macro default__lake_with_columns(relation, columns) -%}
    {{ relation }}
{%- endmacro %}

{% macro duckdb__lake_with_columns(relation, columns) -%}
    (select * from {{ relation }}
     union all by name
     select {% for name, type in columns %}cast(null as {{ type }}) as {{ name }}{{ ', ' if not loop.last }}{% endfor %}
     where false)
{%- endmacro %}
