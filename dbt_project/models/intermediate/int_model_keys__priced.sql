{{ config(materialized='table') }}
-- A table, not a view: built from the few distinct model keys, it keeps fct_ai_interactions' plan small
-- (inlined as CTEs there, Spark's planner ran out of heap) and the per-event join to one small relation.
--
-- The price of every model key seen in the lake (int_model_keys__resolved), as non-overlapping cells: one
-- row per key, date piece, UTC time-of-day window and prompt-size tier. The cells of a key cover every
-- date, second and prompt size, so each event joins exactly one cell. The date pieces, and the override in
-- force over each, come from int_model_keys__price_periods: over a piece where one of your overrides
-- applies, its rates replace genai-prices' in every cell (all times of day and tiers).
with resolved_keys as (

    select
        model_id,
        model_version,
        provider,
        resolved_provider_id,
        model_ref,
        unresolved_reason
    from {{ ref('int_model_keys__resolved') }}

),

key_table_prices as (

    select * from {{ ref('int_model_keys__catalogue_prices') }}

),

periods as (

    select * from {{ ref('int_model_keys__price_periods') }}

),

cells as (

    -- The genai-prices cells in force over each piece (one whole-range cell when there are none), priced
    -- by the override when one applies, else by genai-prices, else not at all.
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
        case when p.has_override then p.override_input_usd_per_mtok else t.input_usd_per_mtok end
            as input_usd_per_mtok,
        case when p.has_override then p.override_cache_read_usd_per_mtok else t.cache_read_usd_per_mtok end
            as cache_read_usd_per_mtok,
        case when p.has_override then p.override_cache_write_usd_per_mtok else t.cache_write_usd_per_mtok end
            as cache_write_usd_per_mtok,
        case when p.has_override then p.override_output_usd_per_mtok else t.output_usd_per_mtok end
            as output_usd_per_mtok,
        -- An override has no reasoning rate of its own: reasoning tokens are output tokens there.
        case when p.has_override then p.override_output_usd_per_mtok else t.reasoning_usd_per_mtok end
            as reasoning_usd_per_mtok,
        case when p.has_override then p.override_request_usd else t.request_usd end as request_usd,
        case when p.has_override then 'override'
             when t.model_id is not null then 'price_table' end as price_source
    from periods as p
    left join key_table_prices as t
        on {{ same_model_key('t', 'p') }}
       and t.valid_from <= p.period_start
       and t.valid_to >= p.period_end

),

final as (

    select
        c.*,
        k.resolved_provider_id,
        k.model_ref as resolved_model_ref,
        k.unresolved_reason
    from cells as c
    inner join resolved_keys as k
        on {{ same_model_key('k', 'c') }}

)

select * from final
