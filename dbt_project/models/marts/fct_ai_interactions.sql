{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}
-- Every interaction, one row per event_id. Incremental: a run reads only lake rows loaded after the
-- newest load already here (each load's rows share one loaded_at, so Parquet statistics skip the
-- rest), so history is not re-read. The loader already dropped retries; the qualify below keeps one
-- row per event_id should two loads both carry one (the later load wins).
with scored as (

    select * from {{ ref('int_interactions__scored') }}
    {% if is_incremental() %}
    where loaded_at > (select coalesce(max(loaded_at), cast('1970-01-01' as timestamp)) from {{ this }})
    {% endif %}

),

deduplicated as (

    select *
    from scored
    qualify row_number() over (partition by event_id order by loaded_at desc, line_number desc) = 1

),

final as (

    select
        event_id,
        event_ts,
        event_date,
        session_id,
        user_id,
        feature_id,
        model_id,
        model_version,
        provider,
        routing_strategy,
        ttft_ms,
        total_latency_ms,
        stream_chunks_received,
        prompt_tokens,
        completion_tokens,
        cached_tokens,
        reported_cost_usd,
        cost_usd,
        cost_source,
        user_regenerated,
        user_edited_output,
        explicit_rating,
        reported_quality_score,
        implicit_quality_score,
        response_hash,
        is_error,
        sample_rate,
        schema_version,
        source,
        load_id,
        loaded_at
    from deduplicated

)

select * from final
