{{ config(unique_key='hour_ts', partition_by='hour_ts') }}
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
        -- One sorted pass per measure for all three fractions (a 10M-row build fits in 1 GB this way).
        {{ percentiles_cont('ttft_ms', [0.5, 0.95, 0.99]) }} as ttft_percentiles,
        {{ percentiles_cont('total_latency_ms', [0.5, 0.95, 0.99]) }} as latency_percentiles,
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
        cast(round({{ list_item('ttft_percentiles', 1) }}, 3) as double) as ttft_p50_ms,
        cast(round({{ list_item('ttft_percentiles', 2) }}, 3) as double) as ttft_p95_ms,
        cast(round({{ list_item('ttft_percentiles', 3) }}, 3) as double) as ttft_p99_ms,
        cast(round({{ list_item('latency_percentiles', 1) }}, 3) as double) as latency_p50_ms,
        cast(round({{ list_item('latency_percentiles', 2) }}, 3) as double) as latency_p95_ms,
        cast(round({{ list_item('latency_percentiles', 3) }}, 3) as double) as latency_p99_ms,
        cast({{ var('slo_ttft_p95_ms') }} as double) as slo_ttft_ms,
        ttft_samples >= {{ var('slo_min_calls') }}
            and {{ list_item('ttft_percentiles', 2) }} > {{ var('slo_ttft_p95_ms') }} as slo_breached,
        source_updated_at
    from aggregated

)

select * from final
