{#- Spark (Parquet tables, no Delta/Iceberg): delete+insert by unique_key, built from insert overwrite.

    dbt-spark's incremental materialization calls get_insert_overwrite_sql(new rows, target, existing)
    for the insert_overwrite strategy; this project-level macro takes precedence over dbt-spark's (root
    project macros win over adapter macros). Without a unique_key it is dbt-spark's own. With one, the
    result is what delete+insert gives on DuckDB: every target row whose key is among the new rows is
    replaced, every other row stays.

    Partitioned target (config partition_by): one dynamic-partition `insert overwrite` rewrites only the
    touched partitions (those of the new rows, and those where a replaced row used to live) with the new
    rows plus the rows of those partitions that are kept. Spark allows a partition overwrite to read its
    own table. A touched partition left with no rows (all of them moved elsewhere) is dropped first: a
    dynamic overwrite never writes an empty partition.

    Unpartitioned target: Spark refuses an overwrite that reads its own table, so the new table is staged
    (`<name>__dbt_stage`), written over the target and the stage dropped. That rewrites the whole table:
    fine for small marts (duplicate responses, sessions); partition big ones. -#}
{% macro get_insert_overwrite_sql(source_relation, target_relation, existing_relation) %}
    {%- set unique_key = config.get('unique_key') -%}
    {%- if not unique_key or existing_relation.is_iceberg -%}
        {{- return(dbt.get_insert_overwrite_sql(source_relation, target_relation, existing_relation)) -}}
    {%- endif -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set partition_by = config.get('partition_by') -%}
    {%- set parts = [] if not partition_by else ([partition_by] if partition_by is string else partition_by) -%}
    {%- set columns = adapter.get_columns_in_relation(target_relation) | map(attribute='quoted') | list -%}
    {%- set key_match %}{% for k in keys %}{{ 'and ' if not loop.first }}t.{{ k }} = s.{{ k }} {% endfor %}{% endset -%}
    {%- set t_part_tuple = '(t.' ~ parts | join(', t.') ~ ')' -%}

    {%- set touched_partitions -%}
        select distinct {{ parts | join(', ') }} from {{ source_relation }}
        union
        select distinct {{ 't.' ~ parts | join(', t.') }} from {{ target_relation }} as t
        left semi join {{ source_relation }} as s on {{ key_match }}
    {%- endset -%}

    {%- set kept -%}
        select {{ 't.' ~ columns | join(', t.') }}
        from {{ target_relation }} as t
        left anti join {{ source_relation }} as s on {{ key_match }}
        {%- if parts %}
        where {{ t_part_tuple }} in ({{ touched_partitions }})
        {%- endif %}
    {%- endset -%}

    {%- if parts -%}
        {%- if execute -%}
            {#- Touched partitions the new rows do not refill and that keep nothing: drop them. -#}
            {%- set emptied = run_query(
                "select " ~ ("cast(t." ~ parts | join(" as string), cast(t.") ~ " as string)")
                ~ " from " ~ target_relation ~ " as t left join (select distinct " ~ keys | join(', ') ~ " from "
                ~ source_relation ~ ") as s on " ~ key_match
                ~ " where " ~ t_part_tuple ~ " not in (select distinct " ~ parts | join(', ') ~ " from " ~ source_relation ~ ")"
                ~ " group by " ~ ('t.' ~ parts | join(', t.'))
                ~ " having count(*) = count(s." ~ keys[0] ~ ")") -%}
            {%- for row in emptied.rows -%}
                {%- set spec = [] -%}
                {%- for p in parts -%}{%- do spec.append(p ~ " = '" ~ row[loop.index0] ~ "'") -%}{%- endfor -%}
                {%- do run_query('alter table ' ~ target_relation ~ ' drop if exists partition (' ~ spec | join(', ') ~ ')') -%}
            {%- endfor -%}
        {%- endif %}
        insert overwrite table {{ target_relation }}
        {{ partition_cols(label="partition") }}
        select {{ columns | join(', ') }} from (
            select {{ columns | join(', ') }} from {{ source_relation }}
            union all
            {{ kept }}
        ) as replaced
    {%- else -%}
        {%- set stage = target_relation.incorporate(path={"identifier": target_relation.identifier ~ '__dbt_stage'}) -%}
        {%- if execute -%}
            {%- do run_query('drop table if exists ' ~ stage) -%}
            {%- do run_query('create table ' ~ stage ~ ' using parquet as select ' ~ columns | join(', ')
                             ~ ' from ' ~ source_relation ~ ' union all ' ~ kept) -%}
            {%- do run_query('insert overwrite table ' ~ target_relation ~ ' select ' ~ columns | join(', ')
                             ~ ' from ' ~ stage) -%}
        {%- endif %}
        drop table if exists {{ stage }}
    {%- endif -%}
{% endmacro %}
