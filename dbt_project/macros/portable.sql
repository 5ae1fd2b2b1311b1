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
    read_parquet('{{ lake_root() }}/{{ subdir }}/**/*.parquet', hive_partitioning = true, union_by_name = true)
{%- endmacro %}

{% macro spark__lake_parquet(subdir) -%}
    parquet.`{{ lake_root() }}/{{ subdir }}`
{%- endmacro %}

{#- Continuous percentile (linear interpolation), as an aggregate. -#}
{% macro percentile_cont(expr, fraction) -%}
    {{ return(adapter.dispatch('percentile_cont', 'ai_analytics_warehouse')(expr, fraction)) }}
{%- endmacro %}

{% macro default__percentile_cont(expr, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expr }})
{%- endmacro %}

{% macro duckdb__percentile_cont(expr, fraction) -%}
    quantile_cont({{ expr }}, {{ fraction }})
{%- endmacro %}

{#- The value of `expr` on the row where `order_by` is largest (DuckDB arg_max, Spark max_by). -#}
{% macro value_at_max(expr, order_by) -%}
    {{ return(adapter.dispatch('value_at_max', 'ai_analytics_warehouse')(expr, order_by)) }}
{%- endmacro %}

{% macro default__value_at_max(expr, order_by) -%}
    max_by({{ expr }}, {{ order_by }})
{%- endmacro %}

{% macro duckdb__value_at_max(expr, order_by) -%}
    arg_max({{ expr }}, {{ order_by }})
{%- endmacro %}

{#- One sortable value from several (compared left to right), for value_at_max over a tie-broken order:
    value_at_max(x, sort_key(['ts', 'loaded_at', 'id'])) picks the same row in every build. -#}
{% macro sort_key(exprs) -%}
    {{ return(adapter.dispatch('sort_key', 'ai_analytics_warehouse')(exprs)) }}
{%- endmacro %}

{% macro default__sort_key(exprs) -%}
    struct({{ exprs | join(', ') }})
{%- endmacro %}

{% macro duckdb__sort_key(exprs) -%}
    row({{ exprs | join(', ') }})
{%- endmacro %}

{#- String prefix test. -#}
{% macro starts_with(text, prefix) -%}
    {{ return(adapter.dispatch('starts_with', 'ai_analytics_warehouse')(text, prefix)) }}
{%- endmacro %}

{% macro default__starts_with(text, prefix) -%}
    startswith({{ text }}, {{ prefix }})
{%- endmacro %}

{% macro duckdb__starts_with(text, prefix) -%}
    starts_with({{ text }}, {{ prefix }})
{%- endmacro %}

{#- Whole days from `start` to `end` (dates). -#}
{% macro days_between(start, end) -%}
    {{ return(adapter.dispatch('days_between', 'ai_analytics_warehouse')(start, end)) }}
{%- endmacro %}

{% macro default__days_between(start, end) -%}
    datediff({{ end }}, {{ start }})
{%- endmacro %}

{% macro duckdb__days_between(start, end) -%}
    date_diff('day', {{ start }}, {{ end }})
{%- endmacro %}

{#- A date plus n days. -#}
{% macro add_days(date_expr, n) -%}
    {{ return(adapter.dispatch('add_days', 'ai_analytics_warehouse')(date_expr, n)) }}
{%- endmacro %}

{% macro default__add_days(date_expr, n) -%}
    date_add({{ date_expr }}, {{ n }})
{%- endmacro %}

{% macro duckdb__add_days(date_expr, n) -%}
    cast({{ date_expr }} + to_days(cast({{ n }} as integer)) as date)
{%- endmacro %}

{#- Logical OR over a boolean expression, as an aggregate. -#}
{% macro bool_or(expr) -%}
    bool_or({{ expr }})
{%- endmacro %}

{#- Several continuous percentiles of one expression from a single sort of its values, as a list
    (1-based: list_item(l, 1) is the first fraction). Much less memory than one aggregate per fraction. -#}
{% macro percentiles_cont(expr, fractions) -%}
    {{ return(adapter.dispatch('percentiles_cont', 'ai_analytics_warehouse')(expr, fractions)) }}
{%- endmacro %}

{% macro default__percentiles_cont(expr, fractions) -%}
    percentile({{ expr }}, array({{ fractions | join(', ') }}))
{%- endmacro %}

{% macro duckdb__percentiles_cont(expr, fractions) -%}
    quantile_cont({{ expr }}, [{{ fractions | join(', ') }}])
{%- endmacro %}

{#- The i-th item (1-based) of a list. -#}
{% macro list_item(list_expr, i) -%}
    {{ return(adapter.dispatch('list_item', 'ai_analytics_warehouse')(list_expr, i)) }}
{%- endmacro %}

{% macro default__list_item(list_expr, i) -%}
    element_at({{ list_expr }}, {{ i }})
{%- endmacro %}

{% macro duckdb__list_item(list_expr, i) -%}
    list_extract({{ list_expr }}, {{ i }})
{%- endmacro %}

{#- Seconds since UTC midnight of a timestamp (whole seconds: price windows start on whole seconds).
    hour/minute/second are the same functions on DuckDB and Spark; timestamps here are UTC. -#}
{% macro utc_second_of_day(ts) -%}
    (hour({{ ts }}) * 3600 + minute({{ ts }}) * 60 + second({{ ts }}))
{%- endmacro %}

{#- One row per element of a list (in a select list): DuckDB unnest, Spark explode. -#}
{% macro explode_list(expr) -%}
    {{ return(adapter.dispatch('explode_list', 'ai_analytics_warehouse')(expr)) }}
{%- endmacro %}

{% macro default__explode_list(expr) -%}
    explode({{ expr }})
{%- endmacro %}

{% macro duckdb__explode_list(expr) -%}
    unnest({{ expr }})
{%- endmacro %}

{#- First day of the month of a date. date_trunc gives a timestamp on Spark (and some DuckDB releases): cast back. -#}
{% macro month_start(date_expr) -%}
    cast(date_trunc('month', {{ date_expr }}) as date)
{%- endmacro %}

{#- Last day of the month of a date: last_day is the same function on DuckDB and Spark. -#}
{% macro month_end(date_expr) -%}
    last_day({{ date_expr }})
{%- endmacro %}
