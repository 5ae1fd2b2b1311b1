{{
    config(
        materialized='incremental',
        unique_key='session_id',
        incremental_strategy=replace_rows_strategy(),
        on_schema_change='append_new_columns'
    )
}}
-- Cost per session against the session budget. Incremental: sessions with rows (re)written since the
-- last build are recomputed from all their interactions, so a late event or a re-price lands in the
-- right session and nothing else is read. Sampled calls weigh 1 / sample_rate in cost and calls.
with changed as (

    {{ changed_interactions() }}

),

session_rows as (

    select *
    from {{ ref('fct_ai_interactions') }}
    {% if is_incremental() %}
    where session_id in (select session_id from changed)
    {% endif %}

),

aggregated as (

    select
        session_id,
        -- A session belongs to one user; should producers disagree, the most frequent id wins.
        mode(user_id) as user_id,
        cast(count(*) as bigint) as interactions,
        sum(1.0 / sample_rate) as estimated_interactions,
        cast(sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)) as bigint) as total_tokens,
        coalesce(sum(cost_usd / sample_rate), 0) as cost_usd,
        cast(count_if(cost_usd is null) as bigint) as unpriced_interactions,
        min(event_ts) as first_event_ts,
        max(event_ts) as last_event_ts,
        max(updated_at) as source_updated_at
    from session_rows
    group by session_id

),

final as (

    select
        session_id,
        user_id,
        interactions,
        cast(estimated_interactions as double) as estimated_interactions,
        total_tokens,
        cast(cost_usd as double) as cost_usd,
        unpriced_interactions,
        first_event_ts,
        last_event_ts,
        cast({{ var('session_budget_usd') }} as double) as budget_usd,
        cost_usd > {{ var('session_budget_usd') }} as over_budget,
        source_updated_at
    from aggregated

)

select * from final
