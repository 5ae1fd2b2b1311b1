{{ config(unique_key='event_date', partition_by='event_date') }}
-- Per feature, day and routing strategy: share of calls, cost and latency, what fallbacks cost beyond
-- the primary route, and what the response cache saved. Calls weigh 1 / sample_rate.
--   fallback_premium_usd = fallback cost - fallback calls x the primary route's average cost per call
--   fallback_cost_ratio  = fallback average cost per call / primary average cost per call;
--                          fallback_over_expected when above var fallback_cost_multiplier (1.2)
--   cache_savings_usd    = what cache hits would have cost as model calls minus what they cost:
--                          a hit is charged cache_hit_cost_ratio (0.15) of the call, so cost / 0.15 - cost
with interactions as (

    {{ interactions_for_changed('event_date') }}

),

by_route as (

    select
        feature_id,
        event_date,
        coalesce(routing_strategy, 'unspecified') as routing_strategy,
        sum(1.0 / sample_rate) as weighted_calls,
        cast(count(*) as bigint) as interactions,
        coalesce(sum(cost_usd / sample_rate), 0) as cost_usd,
        avg(total_latency_ms) as avg_latency_ms,
        {{ percentile_cont('total_latency_ms', 0.95) }} as latency_p95_ms,
        avg(ttft_ms) as avg_ttft_ms,
        max(updated_at) as source_updated_at
    from interactions
    group by feature_id, event_date, coalesce(routing_strategy, 'unspecified')

),

with_primary as (

    select
        r.*,
        sum(weighted_calls) over (partition by feature_id, event_date) as feature_calls,
        max(case when routing_strategy = 'primary' then cost_usd / nullif(weighted_calls, 0) end)
            over (partition by feature_id, event_date) as primary_cost_per_call
    from by_route as r

),

final as (

    select
        feature_id,
        event_date,
        routing_strategy,
        interactions,
        cast(weighted_calls / feature_calls as double) as share,
        cast(cost_usd as double) as cost_usd,
        cast(cost_usd / nullif(weighted_calls, 0) as double) as cost_per_call_usd,
        cast(avg_latency_ms as double) as avg_latency_ms,
        cast(round(latency_p95_ms, 3) as double) as latency_p95_ms,
        cast(avg_ttft_ms as double) as avg_ttft_ms,
        -- Money derived by arithmetic is rounded to 1e-10 USD so 0.05 - 0.02 reads 0.03.
        cast(round(case when routing_strategy = 'fallback'
                        then cost_usd - weighted_calls * primary_cost_per_call end, 10) as double) as fallback_premium_usd,
        cast(case when routing_strategy = 'fallback'
                  then (cost_usd / nullif(weighted_calls, 0)) / nullif(primary_cost_per_call, 0) end as double)
            as fallback_cost_ratio,
        coalesce(routing_strategy = 'fallback'
                 and (cost_usd / nullif(weighted_calls, 0))
                     > {{ var('fallback_cost_multiplier') }} * primary_cost_per_call, false) as fallback_over_expected,
        cast(round(case when routing_strategy = 'cache'
                        then cost_usd / {{ var('cache_hit_cost_ratio') }} - cost_usd end, 10) as double) as cache_savings_usd,
        source_updated_at
    from with_primary

)

select * from final
