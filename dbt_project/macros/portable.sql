{#- Engine differences live here, dispatched per adapter, so models stay the same on every engine. -#}

{#- Epoch milliseconds (bigint) -> UTC timestamp. -#}
{% macro epoch_ms_to_timestamp(expr) -%}
    {{ return(adapter.dispatch('epoch_ms_to_timestamp', 'ai_analytics_warehouse')(expr)) }}
{%- endmacro %}

{% macro default__epoch_ms_to_timestamp(expr) -%}
    timestamp_millis({{ expr }})
{%- endmacro %}

{% macro duckdb__epoch_ms_to_timestamp(expr) -%}
    epoch_ms({{ expr }})
{%- endmacro %}

{#- The lake's hive-partitioned Parquet as a relation. -#}
{% macro lake_parquet(subdir) -%}
    {{ return(adapter.dispatch('lake_parquet', 'ai_analytics_warehouse')(subdir)) }}
{%- endmacro %}

{% macro duckdb__lake_parquet(subdir) -%}
    read_parquet('{{ env_var("AIW_HOME", ".aiw") }}/lake/{{ subdir }}/**/*.parquet', hive_partitioning = true, union_by_name = true)
{%- endmacro %}
