{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy=replace_rows_strategy(),
        partition_by='event_date',
        on_schema_change='append_new_columns'
    )
}}
-- depends_on: {{ ref('int_feedback__targets') }}
-- Every interaction, one row per event_id: deduplicated, priced from the dated price table, with
-- later feedback merged in and the warehouse's implicit quality score.
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
    'prompt_tokens', 'completion_tokens', 'cached_tokens', 'reported_cost_usd', 'reported_regenerated',
    'reported_edited_output', 'reported_rating', 'reported_quality_score', 'response_hash', 'is_error',
    'sample_rate', 'source', 'load_id', 'loaded_at'] %}

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
    -- they win against: first accepted wins).
    select
        {{ producer_columns | join(', ') }}, cast(0 as bigint) as line_number
    from {{ this }}
    where event_id in (select event_id from new_feedback_targets)
       or price_version <> {{ current_price_version }}
       or event_id in (select event_id from new_interactions)

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
    -- For a repeated id the first accepted copy wins (DESIGN: first accepted wins): the earliest load,
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

model_keys as (

    select distinct model_id, model_version, provider from deduplicated

),

key_prices as (

    -- Price rules that can apply to each distinct model seen (a handful), ranked: overrides first,
    -- then exact names before prefixes, longer prefixes first, the event's own provider first.
    select
        k.model_id,
        k.model_version,
        k.provider,
        p.input_usd_per_mtok,
        p.cached_input_usd_per_mtok,
        p.output_usd_per_mtok,
        p.valid_from,
        p.valid_to,
        p.price_source,
        p.source_rank * 100000
          + case when p.match_type = 'equals' then 0 else 10000 end
          - length(p.match_value) * 10
          + case when p.provider_id = k.provider then 0 else 1 end as rule_rank
    from model_keys as k
    inner join {{ ref('int_model_prices') }} as p
        on (p.match_type = 'equals'
              and p.match_value in (lower(k.model_id), lower(concat(k.model_id, '-', k.model_version))))
        or (p.match_type = 'starts_with'
              and ({{ starts_with('lower(k.model_id)', 'p.match_value') }}
                   or {{ starts_with("lower(concat(k.model_id, '-', k.model_version))", 'p.match_value') }}))
    -- An override names its provider (or none, for all); a genai-prices list price also prices the
    -- same model served elsewhere (gpt-4o on Azure) when nothing better matches.
    where p.price_source = 'price_table' or p.provider_id is null or k.provider is null
       or p.provider_id = k.provider

),

key_boundaries as (

    -- Cut each model's timeline wherever a candidate rule starts or ends ...
    select distinct model_id, model_version, provider, valid_from as period_start from key_prices
    union
    select distinct model_id, model_version, provider, valid_to as period_start from key_prices

),

key_periods as (

    select
        model_id,
        model_version,
        provider,
        period_start,
        lead(period_start) over (partition by model_id, model_version, provider order by period_start) as period_end
    from key_boundaries

),

best_price as (

    -- ... and keep the best-ranked rule in force over each piece: one price per model and day, so
    -- events join to exactly one row and no per-event ranking is needed.
    select
        p.model_id,
        p.model_version,
        p.provider,
        p.period_start,
        p.period_end,
        kp.input_usd_per_mtok,
        kp.cached_input_usd_per_mtok,
        kp.output_usd_per_mtok,
        kp.price_source
    from key_periods as p
    inner join key_prices as kp
        on kp.model_id = p.model_id
       and kp.model_version = p.model_version
       and kp.provider is not distinct from p.provider
       and kp.valid_from <= p.period_start
       and kp.valid_to >= p.period_end
    where p.period_end is not null
    qualify row_number() over (
        partition by p.model_id, p.model_version, p.provider, p.period_start order by kp.rule_rank) = 1

),

priced as (

    select
        d.*,
        bp.input_usd_per_mtok,
        bp.cached_input_usd_per_mtok,
        bp.output_usd_per_mtok,
        bp.price_source
    from deduplicated as d
    left join best_price as bp
        on bp.model_id = d.model_id
       and bp.model_version = d.model_version
       and bp.provider is not distinct from d.provider
       and d.event_date >= bp.period_start
       and d.event_date < bp.period_end

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
        {{ token_cost('p.prompt_tokens', 'p.cached_tokens', 'p.completion_tokens', 'p.input_usd_per_mtok',
                      'p.cached_input_usd_per_mtok', 'p.output_usd_per_mtok', 'p.routing_strategy') }} as priced_cost_usd
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
        reported_cost_usd,
        cast(coalesce(priced_cost_usd, reported_cost_usd) as double) as cost_usd,
        case when priced_cost_usd is not null then price_source
             when reported_cost_usd is not null then 'producer_estimate'
             else 'unknown' end as cost_source,
        cast(coalesce(priced_cost_usd, reported_cost_usd) - reported_cost_usd as double) as cost_gap_usd,
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
