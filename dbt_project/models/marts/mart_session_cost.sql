{{ config(unique_key='session_id') }}
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

session_users as (

    select session_id, user_id, count(*) as calls
    from session_rows
    where user_id is not null
    group by session_id, user_id

),

session_user as (

    -- A session belongs to one user; should producers disagree, the most frequent id wins, and of equally
    -- frequent ids the largest (a fixed rule, so every build agrees).
    select session_id, {{ value_at_max('user_id', sort_key(['calls', 'user_id'])) }} as session_user_id
    from session_users
    group by session_id

),

aggregated as (

    select
        session_id,
        any_value(session_user.session_user_id) as user_id,
        cast(count(*) as bigint) as interactions,
        sum(1.0 / sample_rate) as estimated_interactions,
        cast(sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)) as bigint) as total_tokens,
        coalesce(sum(cost_usd / sample_rate), 0) as cost_usd,
        cast(count_if(cost_usd is null) as bigint) as unpriced_interactions,
        min(event_ts) as first_event_ts,
        max(event_ts) as last_event_ts,
        max(updated_at) as source_updated_at
    from session_rows
    left join session_user using (session_id)
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
