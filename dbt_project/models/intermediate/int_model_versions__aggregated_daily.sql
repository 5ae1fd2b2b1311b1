{{ config(materialized='incremental', unique_key='event_date', partition_by='event_date') }}
-- Sufficient statistics per model version and day (counts, sums, sums of squares), so mart_model_drift
-- can pool any window and run its tests without going back to the interactions.
with interactions as (

    {{ interactions_for_changed('event_date') }}

),

final as (

    select
        model_id,
        model_version,
        event_date,
        cast(count(*) as bigint) as interactions,
        cast(count(implicit_quality_score) as bigint) as quality_n,
        sum(implicit_quality_score) as quality_sum,
        sum(implicit_quality_score * implicit_quality_score) as quality_sumsq,
        cast(count_if(user_regenerated) as bigint) as regenerations,
        cast(count(ttft_ms) as bigint) as ttft_n,
        sum(ttft_ms) as ttft_sum,
        sum(ttft_ms * ttft_ms) as ttft_sumsq,
        cast(count(total_latency_ms) as bigint) as latency_n,
        sum(total_latency_ms) as latency_sum,
        sum(total_latency_ms * total_latency_ms) as latency_sumsq,
        sum(case when cost_usd is not null and prompt_tokens is not null and completion_tokens is not null
                 then cost_usd end) as priced_cost_usd,
        sum(case when cost_usd is not null and prompt_tokens is not null and completion_tokens is not null
                 then prompt_tokens + completion_tokens end) as priced_tokens,
        min(event_ts) as first_event_ts,
        max(updated_at) as source_updated_at
    from interactions
    group by model_id, model_version, event_date

)

select * from final
