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

    -- Rows already here that need another look: new feedback, or new prices.
    select
        {{ producer_columns | join(', ') }}, cast(0 as bigint) as line_number
    from {{ this }}
    where (event_id in (select event_id from new_feedback_targets) or price_version <> {{ current_price_version }})
      and event_id not in (select event_id from new_interactions)

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
    -- For a repeated id the later load wins.
    select *
    from (
        select candidates.*
        from candidates
        inner join repeated_ids on repeated_ids.event_id = candidates.event_id
    ) as repeated
    qualify row_number() over (partition by event_id order by loaded_at desc, line_number desc) = 1

),

model_keys as (

    select distinct model_id, model_version, provider from deduplicated

),

resolved_keys as (

    -- genai-prices' provider and model for each distinct key (int_model_resolution, written by the
    -- pricing step before the build). A key missing there was not resolved: it stays unpriced.
    select
        k.model_id,
        k.model_version,
        k.provider,
        r.resolved_provider_id,
        r.price_provider_id,
        r.model_ref,
        case when r.model_id is null then 'not resolved: run `aiw prices resolve` (or `aiw run`) before dbt'
             else r.unresolved_reason end as unresolved_reason
    from model_keys as k
    left join {{ ref('int_model_resolution') }} as r
        on r.model_id = k.model_id
       and r.model_version = k.model_version
       and r.provider is not distinct from k.provider

),

key_overrides as (

    -- Your overrides that can apply to each key, ranked: exact names before prefixes, longer prefixes
    -- first, an override naming the event's provider before one for any provider.
    select
        k.model_id,
        k.model_version,
        k.provider,
        o.input_usd_per_mtok,
        o.cache_read_usd_per_mtok,
        o.cache_write_usd_per_mtok,
        o.output_usd_per_mtok,
        o.request_usd,
        o.valid_from,
        o.valid_to,
        case when o.match_type = 'equals' then 0 else 10000 end
          - length(o.match_value) * 10
          + case when o.provider_id = lower(k.provider) then 0 else 1 end as rule_rank
    from model_keys as k
    inner join {{ ref('int_price_overrides') }} as o
        on (o.match_type = 'equals'
              and o.match_value in (lower(k.model_id), lower(concat(k.model_id, '-', k.model_version))))
        or (o.match_type = 'starts_with'
              and ({{ starts_with('lower(k.model_id)', 'o.match_value') }}
                   or {{ starts_with("lower(concat(k.model_id, '-', k.model_version))", 'o.match_value') }}))
    where o.provider_id is null or k.provider is null or o.provider_id = lower(k.provider)

),

key_table_prices as (

    -- The genai-prices rows of the model each key resolved to (a few per key: periods, windows, tiers).
    select
        rk.model_id,
        rk.model_version,
        rk.provider,
        p.valid_from,
        p.valid_to,
        p.utc_second_from,
        p.utc_second_to,
        p.prompt_tokens_from,
        p.prompt_tokens_to,
        p.input_usd_per_mtok,
        p.cache_read_usd_per_mtok,
        p.cache_write_usd_per_mtok,
        p.output_usd_per_mtok,
        p.reasoning_usd_per_mtok,
        p.request_usd
    from resolved_keys as rk
    inner join {{ ref('int_model_prices') }} as p
        on p.provider_id = rk.price_provider_id
       and p.model_ref = rk.model_ref

),

key_boundaries as (

    -- Cut each key's timeline wherever an override or a genai-prices period starts or ends ...
    select model_id, model_version, provider, valid_from as period_start from key_overrides
    union
    select model_id, model_version, provider, valid_to as period_start from key_overrides
    union
    select model_id, model_version, provider, valid_from as period_start from key_table_prices
    union
    select model_id, model_version, provider, valid_to as period_start from key_table_prices
    union
    select model_id, model_version, provider, cast('2000-01-01' as date) as period_start from model_keys
    union
    select model_id, model_version, provider, cast('9999-12-31' as date) as period_start from model_keys

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

period_overrides as (

    -- ... keep the best-ranked override in force over each piece ...
    select
        p.model_id,
        p.model_version,
        p.provider,
        p.period_start,
        p.period_end,
        o.input_usd_per_mtok,
        o.cache_read_usd_per_mtok,
        o.cache_write_usd_per_mtok,
        o.output_usd_per_mtok,
        o.request_usd
    from key_periods as p
    inner join key_overrides as o
        on o.model_id = p.model_id
       and o.model_version = p.model_version
       and o.provider is not distinct from p.provider
       and o.valid_from <= p.period_start
       and o.valid_to >= p.period_end
    where p.period_end is not null
    qualify row_number() over (
        partition by p.model_id, p.model_version, p.provider, p.period_start order by o.rule_rank) = 1

),

period_table_prices as (

    -- ... else genai-prices' rows in force over the piece (by time of day and prompt size) ...
    select
        p.model_id,
        p.model_version,
        p.provider,
        p.period_start,
        p.period_end,
        t.utc_second_from,
        t.utc_second_to,
        t.prompt_tokens_from,
        t.prompt_tokens_to,
        t.input_usd_per_mtok,
        t.cache_read_usd_per_mtok,
        t.cache_write_usd_per_mtok,
        t.output_usd_per_mtok,
        t.reasoning_usd_per_mtok,
        t.request_usd
    from key_periods as p
    inner join key_table_prices as t
        on t.model_id = p.model_id
       and t.model_version = p.model_version
       and t.provider is not distinct from p.provider
       and t.valid_from <= p.period_start
       and t.valid_to >= p.period_end
    left join period_overrides as o
        on o.model_id = p.model_id
       and o.model_version = p.model_version
       and o.provider is not distinct from p.provider
       and o.period_start = p.period_start
    where p.period_end is not null
      and o.model_id is null

),

unpriced_periods as (

    -- ... else nothing: the piece is unpriced (the events still get their resolution and its reason).
    select p.model_id, p.model_version, p.provider, p.period_start, p.period_end
    from key_periods as p
    left join period_overrides as o
        on o.model_id = p.model_id
       and o.model_version = p.model_version
       and o.provider is not distinct from p.provider
       and o.period_start = p.period_start
    left join (select distinct model_id, model_version, provider, period_start from period_table_prices) as t
        on t.model_id = p.model_id
       and t.model_version = p.model_version
       and t.provider is not distinct from p.provider
       and t.period_start = p.period_start
    where p.period_end is not null
      and o.model_id is null
      and t.model_id is null

),

key_price_cells as (

    -- One row per key, date piece, UTC time window and prompt tier; the cells of a key do not overlap
    -- and cover every date, second and prompt size, so each event joins exactly one cell.
    select
        model_id, model_version, provider, period_start, period_end,
        0 as utc_second_from, 86400 as utc_second_to, cast(0 as bigint) as prompt_tokens_from,
        cast(null as bigint) as prompt_tokens_to,
        input_usd_per_mtok, cache_read_usd_per_mtok, cache_write_usd_per_mtok, output_usd_per_mtok,
        output_usd_per_mtok as reasoning_usd_per_mtok, request_usd, 'override' as price_source
    from period_overrides
    union all
    select
        model_id, model_version, provider, period_start, period_end,
        utc_second_from, utc_second_to, prompt_tokens_from, prompt_tokens_to,
        input_usd_per_mtok, cache_read_usd_per_mtok, cache_write_usd_per_mtok, output_usd_per_mtok,
        reasoning_usd_per_mtok, request_usd, 'price_table' as price_source
    from period_table_prices
    union all
    select
        model_id, model_version, provider, period_start, period_end,
        0 as utc_second_from, 86400 as utc_second_to, cast(0 as bigint) as prompt_tokens_from,
        cast(null as bigint) as prompt_tokens_to,
        cast(null as double) as input_usd_per_mtok, cast(null as double) as cache_read_usd_per_mtok,
        cast(null as double) as cache_write_usd_per_mtok, cast(null as double) as output_usd_per_mtok,
        cast(null as double) as reasoning_usd_per_mtok, cast(null as double) as request_usd,
        cast(null as string) as price_source
    from unpriced_periods

),

key_cells_resolved as (

    select
        c.*,
        rk.resolved_provider_id,
        rk.model_ref as resolved_model_ref,
        rk.unresolved_reason
    from key_price_cells as c
    inner join resolved_keys as rk
        on rk.model_id = c.model_id
       and rk.model_version = c.model_version
       and rk.provider is not distinct from c.provider

),

priced as (

    -- The event's UTC date, second of the day and prompt size pick its cell (a null prompt takes the
    -- base tier, and its cost stays null).
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
        c.unresolved_reason
    from deduplicated as d
    left join key_cells_resolved as c
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
