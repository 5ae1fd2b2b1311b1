{{ config(materialized='table') }}
-- A table, not a view: built from the few distinct model keys, it keeps fct_ai_interactions' plan small
-- (inlined as CTEs there, Spark's planner ran out of heap) and the per-event join to one small relation.
--
-- The price of every model key seen in the lake (int_model_keys__resolved), as non-overlapping cells: one
-- row per key, date piece, UTC time-of-day window and prompt-size tier. The cells of a key cover every
-- date, second and prompt size, so each event joins exactly one cell. Over a date piece where one of
-- your overrides applies, its rates replace genai-prices' in every cell (all times of day and tiers).
with resolved_keys as (

    select
        model_id,
        model_version,
        provider,
        resolved_provider_id,
        price_provider_id,
        model_ref,
        unresolved_reason
    from {{ ref('int_model_keys__resolved') }}

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
    from resolved_keys as k
    inner join {{ ref('int_price_overrides__normalised') }} as o
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
        k.model_id,
        k.model_version,
        k.provider,
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
    from resolved_keys as k
    inner join {{ ref('int_catalogue_prices__listed') }} as p
        on p.provider_id = k.price_provider_id
       and p.model_ref = k.model_ref

),

key_ranges as (

    select model_id, model_version, provider, valid_from, valid_to from key_overrides
    union all
    select model_id, model_version, provider, valid_from, valid_to from key_table_prices
    union all
    select model_id, model_version, provider, cast('2000-01-01' as date) as valid_from,
           cast('9999-12-31' as date) as valid_to
    from resolved_keys

),

key_boundaries as (

    -- Cut each key's timeline wherever an override or a genai-prices period starts or ends ...
    select distinct
        r.model_id,
        r.model_version,
        r.provider,
        case when ends.side = 0 then r.valid_from else r.valid_to end as period_start
    from key_ranges as r
    cross join (select 0 as side union all select 1 as side) as ends

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

cells as (

    -- ... and the genai-prices cells in force over the piece (one whole-range cell when there are none),
    -- priced by the override when one applies, else by genai-prices, else not at all.
    select
        p.model_id,
        p.model_version,
        p.provider,
        p.period_start,
        p.period_end,
        coalesce(t.utc_second_from, 0) as utc_second_from,
        coalesce(t.utc_second_to, 86400) as utc_second_to,
        coalesce(t.prompt_tokens_from, cast(0 as bigint)) as prompt_tokens_from,
        t.prompt_tokens_to,
        case when o.model_id is not null then o.input_usd_per_mtok else t.input_usd_per_mtok end
            as input_usd_per_mtok,
        case when o.model_id is not null then o.cache_read_usd_per_mtok else t.cache_read_usd_per_mtok end
            as cache_read_usd_per_mtok,
        case when o.model_id is not null then o.cache_write_usd_per_mtok else t.cache_write_usd_per_mtok end
            as cache_write_usd_per_mtok,
        case when o.model_id is not null then o.output_usd_per_mtok else t.output_usd_per_mtok end
            as output_usd_per_mtok,
        -- An override has no reasoning rate of its own: reasoning tokens are output tokens there.
        case when o.model_id is not null then o.output_usd_per_mtok else t.reasoning_usd_per_mtok end
            as reasoning_usd_per_mtok,
        case when o.model_id is not null then o.request_usd else t.request_usd end as request_usd,
        case when o.model_id is not null then 'override'
             when t.model_id is not null then 'price_table' end as price_source
    from key_periods as p
    left join key_table_prices as t
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

),

final as (

    select
        c.*,
        k.resolved_provider_id,
        k.model_ref as resolved_model_ref,
        k.unresolved_reason
    from cells as c
    inner join resolved_keys as k
        on k.model_id = c.model_id
       and k.model_version = c.model_version
       and k.provider is not distinct from c.provider

)

select * from final
