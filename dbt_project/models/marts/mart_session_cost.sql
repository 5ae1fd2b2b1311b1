{{
    config(
        materialized='incremental',
        unique_key='session_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}
-- Cost per session. Incremental: sessions that received rows since the last build are recomputed
-- from all their interactions, so a late event lands in the right session and nothing else is read.
with interactions as (

    select * from {{ ref('fct_ai_interactions') }}

),

{% if is_incremental() %}
touched as (

    select distinct session_id
    from interactions
    where loaded_at > (select coalesce(max(last_loaded_at), cast('1970-01-01' as timestamp)) from {{ this }})

),
{% endif %}

session_rows as (

    select interactions.*
    from interactions
    {% if is_incremental() %}
    where session_id in (select session_id from touched)
    {% endif %}

),

aggregated as (

    select
        session_id,
        -- A session belongs to one user; should producers disagree, the most frequent id wins.
        mode(user_id) as user_id,
        cast(count(*) as bigint) as interactions,
        cast(sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)) as bigint) as total_tokens,
        coalesce(sum(cost_usd / sample_rate), 0) as cost_usd,
        cast(count_if(cost_usd is null) as bigint) as unpriced_interactions,
        min(event_ts) as first_event_ts,
        max(event_ts) as last_event_ts,
        max(loaded_at) as last_loaded_at
    from session_rows
    group by session_id

),

final as (

    select
        session_id,
        user_id,
        interactions,
        total_tokens,
        cast(cost_usd as double) as cost_usd,
        unpriced_interactions,
        first_event_ts,
        last_event_ts,
        cast({{ var('session_budget_usd') }} as double) as budget_usd,
        cost_usd > {{ var('session_budget_usd') }} as over_budget,
        last_loaded_at
    from aggregated

)

select * from final
