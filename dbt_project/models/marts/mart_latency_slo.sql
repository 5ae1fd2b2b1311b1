{{
    config(
        materialized='incremental',
        unique_key='hour_ts',
        incremental_strategy=replace_rows_strategy(),
        partition_by='hour_ts',
        on_schema_change='append_new_columns'
    )
}}
-- TTFT and total latency percentiles per feature x model x hour against the TTFT SLO
-- (var slo_ttft_p95_ms, default 1500 ms at p95). An hour breaches when p95 TTFT is above the SLO and
-- at least slo_min_calls calls measured TTFT (thinner hours are reported, not judged).
with interactions as (

    {{ interactions_for_changed("date_trunc('hour', event_ts)") }}

),

aggregated as (

    select
        feature_id,
        model_id,
        date_trunc('hour', event_ts) as hour_ts,
        cast(count(*) as bigint) as interactions,
        cast(count(ttft_ms) as bigint) as ttft_samples,
        {{ percentile_cont('ttft_ms', 0.5) }} as ttft_p50_ms,
        {{ percentile_cont('ttft_ms', 0.95) }} as ttft_p95_ms,
        {{ percentile_cont('ttft_ms', 0.99) }} as ttft_p99_ms,
        {{ percentile_cont('total_latency_ms', 0.5) }} as latency_p50_ms,
        {{ percentile_cont('total_latency_ms', 0.95) }} as latency_p95_ms,
        {{ percentile_cont('total_latency_ms', 0.99) }} as latency_p99_ms,
        max(updated_at) as source_updated_at
    from interactions
    group by feature_id, model_id, date_trunc('hour', event_ts)

),

final as (

    select
        feature_id,
        model_id,
        hour_ts,
        interactions,
        ttft_samples,
        cast(round(ttft_p50_ms, 3) as double) as ttft_p50_ms,
        cast(round(ttft_p95_ms, 3) as double) as ttft_p95_ms,
        cast(round(ttft_p99_ms, 3) as double) as ttft_p99_ms,
        cast(round(latency_p50_ms, 3) as double) as latency_p50_ms,
        cast(round(latency_p95_ms, 3) as double) as latency_p95_ms,
        cast(round(latency_p99_ms, 3) as double) as latency_p99_ms,
        cast({{ var('slo_ttft_p95_ms') }} as double) as slo_ttft_ms,
        ttft_samples >= {{ var('slo_min_calls') }} and ttft_p95_ms > {{ var('slo_ttft_p95_ms') }} as slo_breached,
        source_updated_at
    from aggregated

)

select * from final
