{{ config(unique_key='event_date', partition_by='event_date') }}
-- Per feature and day: is the output good (behaviour and ratings), how fast, how costly.
-- Rates and averages are over observed calls; cost weighs sampled calls by 1 / sample_rate.
-- Latency percentiles skip calls whose source does not measure TTFT (ttft_samples says how many did).
with interactions as (

    {{ interactions_for_changed('event_date') }}

),

aggregated as (

    select
        feature_id,
        event_date,
        cast(count(*) as bigint) as interactions,
        avg(implicit_quality_score) as avg_implicit_quality,
        avg(reported_quality_score) as avg_reported_quality,
        -- Integer flags: the average of an integer is a double on every engine (of 1.0, a decimal
        -- rounded to 5 places on Spark).
        avg(case when user_regenerated then 1 else 0 end) as regeneration_rate,
        avg(case when user_edited_output then 1 else 0 end) as edit_rate,
        avg(case when explicit_rating is not null then 1 else 0 end) as rating_rate,
        avg(case when explicit_rating = 'up' then 1 when explicit_rating = 'down' then 0 end) as thumbs_up_rate,
        cast(count(ttft_ms) as bigint) as ttft_samples,
        {{ percentiles_cont('ttft_ms', [0.5, 0.95]) }} as ttft_percentiles,
        {{ percentiles_cont('total_latency_ms', [0.5, 0.95]) }} as latency_percentiles,
        avg(case when is_error then 1 else 0 end) as error_rate,
        coalesce(sum(cost_usd / sample_rate), 0) as cost_usd,
        cast(count_if(cost_usd is null) as bigint) as unpriced_interactions,
        max(updated_at) as source_updated_at
    from interactions
    group by feature_id, event_date

),

final as (

    select
        feature_id,
        event_date,
        interactions,
        cast(avg_implicit_quality as double) as avg_implicit_quality,
        cast(avg_reported_quality as double) as avg_reported_quality,
        cast(regeneration_rate as double) as regeneration_rate,
        cast(edit_rate as double) as edit_rate,
        cast(rating_rate as double) as rating_rate,
        cast(thumbs_up_rate as double) as thumbs_up_rate,
        ttft_samples,
        cast(round({{ list_item('ttft_percentiles', 1) }}, 3) as double) as ttft_p50_ms,
        cast(round({{ list_item('ttft_percentiles', 2) }}, 3) as double) as ttft_p95_ms,
        cast(round({{ list_item('latency_percentiles', 1) }}, 3) as double) as latency_p50_ms,
        cast(round({{ list_item('latency_percentiles', 2) }}, 3) as double) as latency_p95_ms,
        cast(error_rate as double) as error_rate,
        cast(cost_usd as double) as cost_usd,
        unpriced_interactions,
        source_updated_at
    from aggregated

)

select * from final
