{#- Incremental helpers. Values are read at compile time (each node compiles right before it runs) and
    inlined as literals, so the engine can prune lake files and row groups by them. -#}

{#- max(expr) over the model's current table, as a timestamp literal; the epoch on a first build. -#}
{% macro watermark(expr) -%}
    {%- set value = none -%}
    {%- if execute and is_incremental() -%}
        {%- set result = run_query("select cast(max(" ~ expr ~ ") as string) from " ~ this) -%}
        {%- set value = result.columns[0].values()[0] -%}
    {%- endif -%}
    cast('{{ value or "1970-01-01 00:00:00" }}' as timestamp)
{%- endmacro %}

{#- A fingerprint of the price rules in force: when it changes, history is re-priced. Hashed in
    Jinja (local_md5) so the same macro works on every engine. -#}
{% macro price_version() -%}
    {%- set value = 'unknown' -%}
    {#- A unit test swaps refs for fixtures, which a separate query cannot see: no fingerprint there. -#}
    {%- if execute and model.resource_type != 'unit_test' -%}
        {%- set result = run_query(
            "select price_source, provider_id, match_type, match_value, input_usd_per_mtok, "
            ~ "cached_input_usd_per_mtok, output_usd_per_mtok, valid_from, valid_to from " ~ ref('int_model_prices')
            ~ " order by price_source, provider_id, match_type, match_value, valid_from") -%}
        {%- set parts = [] -%}
        {%- for row in result.rows -%}
            {%- do parts.append(row.values() | join('|')) -%}
        {%- endfor -%}
        {%- set value = local_md5(parts | join(',')) -%}
    {%- endif -%}
    '{{ value }}'
{%- endmacro %}

{#- The incremental strategy of every model that recomputes whole keys (an event_id, a day, an hour, a
    session): replace the target's rows whose unique_key is among the new rows, keep all others.
    DuckDB: delete+insert. Spark without Delta or Iceberg has no merge and no delete, so: insert_overwrite,
    which this project's get_insert_overwrite_sql (spark_incremental.sql) makes keep the other rows of the
    partitions it rewrites. Models name `partition_by` (the physical layout on Spark; DuckDB ignores it). -#}
{% macro replace_rows_strategy() -%}
    {{- return(adapter.dispatch('replace_rows_strategy', 'ai_analytics_warehouse')()) -}}
{%- endmacro %}

{% macro default__replace_rows_strategy() -%}
    {{- return('delete+insert') -}}
{%- endmacro %}

{% macro spark__replace_rows_strategy() -%}
    {{- return('insert_overwrite') -}}
{%- endmacro %}
