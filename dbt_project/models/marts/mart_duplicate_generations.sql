{{ config(unique_key='response_hash') }}
-- Identical responses generated more than once (same response_hash): every repeat after the first
-- is work a cache could have saved. wasted_* count the repeats' completion tokens and cost.
with changed as (

    {{ changed_interactions() }}

),

interactions as (

    select *
    from {{ ref('fct_ai_interactions') }}
    where response_hash is not null
    {% if is_incremental() %}
      and response_hash in (select response_hash from changed)
    {% endif %}

),

repeated_hashes as (

    -- Nearly every response is unique: find the repeated ones with a hash aggregate, and rank only those.
    select response_hash
    from interactions
    group by response_hash
    having count(*) > 1

),

ranked as (

    select
        interactions.*,
        row_number() over (partition by interactions.response_hash order by event_ts, event_id) as occurrence
    from interactions
    inner join repeated_hashes on repeated_hashes.response_hash = interactions.response_hash

),

aggregated as (

    select
        response_hash,
        cast(count(*) as bigint) as occurrences,
        cast(count(distinct session_id) as bigint) as sessions,
        cast(count(distinct feature_id) as bigint) as features,
        min(event_ts) as first_seen_ts,
        max(event_ts) as last_seen_ts,
        cast(coalesce(sum(case when occurrence > 1 then completion_tokens end), 0) as bigint) as wasted_tokens,
        coalesce(sum(case when occurrence > 1 then cost_usd end), 0) as wasted_cost_usd,
        max(updated_at) as source_updated_at
    from ranked
    group by response_hash

),

final as (

    select
        response_hash,
        occurrences,
        sessions,
        features,
        first_seen_ts,
        last_seen_ts,
        wasted_tokens,
        cast(wasted_cost_usd as double) as wasted_cost_usd,
        source_updated_at
    from aggregated
    where occurrences > 1

)

select * from final
