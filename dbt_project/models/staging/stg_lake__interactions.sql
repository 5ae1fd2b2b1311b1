-- One row per accepted landing line: renamed and typed, nothing else.
with source as (

    -- Contract 1.2 columns, null in lakes loaded before 1.2 (lake_with_columns).
    select * from {{ lake_with_columns(source('lake', 'raw_interactions'),
                                       [['tags', 'map(varchar, varchar)'], ['prompt_version', 'varchar']]) }}

),

renamed as (

    select
        event_id,
        schema_version,
        session_id,
        user_id,
        {{ epoch_ms_to_timestamp('timestamp') }} as event_ts,
        cast({{ epoch_ms_to_timestamp('timestamp') }} as date) as event_date,
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
        cache_write_tokens,
        reasoning_tokens,
        estimated_cost_usd as reported_cost_usd,
        user_regenerated as reported_regenerated,
        user_edited_output as reported_edited_output,
        explicit_rating as reported_rating,
        implicit_quality_score as reported_quality_score,
        prompt_hash,
        response_hash,
        trace_id,
        is_error,
        sample_rate,
        tags,
        prompt_version,
        source,
        source_file,
        line_number,
        load_id,
        loaded_at
    from source

)

select * from renamed
