{{ config(unique_key='event_id', partition_by='event_date') }}
-- depends_on: {{ ref('int_feedback__targets') }}
-- depends_on: {{ ref('int_catalogue_prices__listed') }}, {{ ref('int_price_overrides__normalised') }}, {{ ref('int_model_keys__resolved') }} (price_version)
-- Every interaction, one row per event_id: deduplicated, priced as genai-prices prices it (or by your
-- overrides), with later feedback merged in and the warehouse's implicit quality score.
--
-- Incremental, without re-reading history. A build (re)writes only:
--   * interactions from lake loads newer than the watermark (Parquet row groups of older loads are
--     skipped by their loaded_at statistics);
--   * rows already here whose feedback arrived since, re-merged from the row itself;
--   * every row here, re-priced from its own tokens, when the price rules changed (price_version).
-- The producer's own flags are kept (reported_*) so a re-merge never double-counts.
{%- set watermark = watermark("greatest(loaded_at, coalesce(feedback_loaded_at, loaded_at))") %}
{%- set current_price_version = price_version() %}
{#- What the producer sent: read from the lake for new rows and from this table for rows that are
    re-merged or re-priced, so both branches of the union list the same columns. -#}
{%- set producer_columns = [
    'event_id', 'schema_version', 'session_id', 'user_id', 'event_ts', 'event_date', 'feature_id', 'model_id',
    'model_version', 'provider', 'routing_strategy', 'ttft_ms', 'total_latency_ms', 'stream_chunks_received',
    'prompt_tokens', 'completion_tokens', 'cached_tokens', 'cache_write_tokens', 'reasoning_tokens', 'reported_cost_usd', 'reported_regenerated',
    'reported_edited_output', 'reported_rating', 'reported_quality_score', 'response_hash', 'is_error',
    'sample_rate', 'tags', 'prompt_version', 'source', 'load_id', 'loaded_at'] %}

with new_interactions as (

    select
        {{ producer_columns | join(', ') }}, line_number
    from {{ ref('stg_lake__interactions') }}
    {% if is_incremental() %}
    where loaded_at > {{ watermark }}
    {% endif %}

),

{% if is_incremental() %}
new_feedback_targets as (

    select distinct event_id
    from {{ ref('int_feedback__targets') }}
    where loaded_at > {{ watermark }}

),

carried as (

    -- Rows already here that need another look: new feedback, new prices, or a new copy of their id (which
    -- they win against: first accepted wins). The ids of both kinds in one set: one probe of the table's
    -- event_id column instead of two.
    select
        {{ producer_columns | join(', ') }}, cast(0 as bigint) as line_number
    from {{ this }}
    where event_id in (select event_id from new_feedback_targets
                       union all
                       select event_id from new_interactions)
       or price_version <> {{ current_price_version }}

),
{% endif %}

candidates as (

    select * from new_interactions
    {% if is_incremental() %}
    union all
    select * from carried
    {% endif %}

),

repeated_ids as (

    -- The loader already dropped retries, so ids seen twice are rare (two loads that both carry an id):
    -- find them with a hash aggregate instead of ranking every row.
    select event_id
    from candidates
    group by event_id
    having count(*) > 1

),

deduplicated as (

    select candidates.*
    from candidates
    left join repeated_ids on repeated_ids.event_id = candidates.event_id
    where repeated_ids.event_id is null
    union all
    -- For a repeated id the first accepted copy wins (docs/operations.md, "Rules for producers"): the earliest load,
    -- then the load id (loads of one run share loaded_at), then the line. The loader already quarantines
    -- a changed copy and drops a retry, so this only decides between copies an older lake let through.
    select *
    from (
        select candidates.*
        from candidates
        inner join repeated_ids on repeated_ids.event_id = candidates.event_id
    ) as repeated
    qualify row_number() over (partition by event_id order by loaded_at, load_id, line_number) = 1

),

priced as (

    -- The event's key, UTC date, second of the day and prompt size pick its one price cell (a null
    -- prompt takes the base tier, and its cost stays null). A key without cells was not resolved.
    select
        d.*,
        c.input_usd_per_mtok,
        c.cache_read_usd_per_mtok,
        c.cache_write_usd_per_mtok,
        c.output_usd_per_mtok,
        c.reasoning_usd_per_mtok,
        c.request_usd,
        c.price_source,
        c.resolved_provider_id,
        c.resolved_model_ref,
        case when c.model_id is null then 'not resolved: run `aiw prices resolve` (or `aiw run`) before dbt'
             else c.unresolved_reason end as unresolved_reason
    from deduplicated as d
    left join {{ ref('int_model_keys__priced') }} as c
        on c.model_id = d.model_id
       and c.model_version = d.model_version
       and c.provider is not distinct from d.provider
       and d.event_date >= c.period_start
       and d.event_date < c.period_end
       and {{ utc_second_of_day('d.event_ts') }} >= c.utc_second_from
       and {{ utc_second_of_day('d.event_ts') }} < c.utc_second_to
       and coalesce(d.prompt_tokens, 0) >= c.prompt_tokens_from
       and (c.prompt_tokens_to is null or coalesce(d.prompt_tokens, 0) < c.prompt_tokens_to)

),

merged as (

    select
        p.*,
        f.feedback_records,
        f.feedback_loaded_at,
        coalesce(p.reported_regenerated, false) or coalesce(f.feedback_regenerated, false) as user_regenerated,
        coalesce(p.reported_edited_output, false) or coalesce(f.feedback_edited, false) as user_edited_output,
        -- The latest rating wins; feedback always comes after the call it rates.
        coalesce(f.feedback_rating, p.reported_rating) as explicit_rating,
        {{ token_cost('p') }} as priced_cost_usd
    from priced as p
    left join {{ ref('int_feedback__by_event') }} as f
        on f.event_id = p.event_id

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
        cache_write_tokens,
        reasoning_tokens,
        reported_cost_usd,
        cast(coalesce(priced_cost_usd, reported_cost_usd) as double) as cost_usd,
        case when priced_cost_usd is not null then price_source
             when reported_cost_usd is not null then 'producer_estimate'
             else 'unknown' end as cost_source,
        cast(coalesce(priced_cost_usd, reported_cost_usd) - reported_cost_usd as double) as cost_gap_usd,
        resolved_provider_id,
        resolved_model_ref,
        case when priced_cost_usd is not null then cast(null as string)
             when unresolved_reason is not null then unresolved_reason
             when input_usd_per_mtok is null
                 then concat('genai-prices has no text-token price for ', resolved_provider_id, '/',
                             resolved_model_ref, ' on this date')
             else 'token counts missing' end as unpriced_reason,
        user_regenerated,
        user_edited_output,
        explicit_rating,
        reported_quality_score,
        -- Rounded to 6 places so equal scores compare equal (0.23, not 0.22999999999999998).
        cast(round({{ implicit_quality('user_regenerated', 'user_edited_output', 'total_latency_ms',
                                       'prompt_tokens', 'completion_tokens') }}, 6) as double) as implicit_quality_score,
        reported_regenerated,
        reported_edited_output,
        reported_rating,
        cast(coalesce(feedback_records, 0) as bigint) as feedback_records,
        response_hash,
        coalesce(is_error, false) as is_error,
        coalesce(sample_rate, 1.0) as sample_rate,
        tags,
        prompt_version,
        schema_version,
        source,
        load_id,
        loaded_at,
        feedback_loaded_at,
        {{ current_price_version }} as price_version,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp) as updated_at
    from merged

)

select * from final
