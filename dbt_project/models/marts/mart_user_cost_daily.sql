{{ config(unique_key='event_date', partition_by='event_date') }}
-- Cost per user per day, with rolling 7- and 30-day cost for per-user budgets. Incremental: from the
-- earliest day touched since the last build onward, every user-day is recomputed (a late row changes
-- the rolling sums of the 29 days after it), reading fct only from 29 days before that.
{%- set start_date = none %}
{%- if is_incremental() and execute %}
    {%- set result = run_query("select cast(min(event_date) as string) from (" ~ changed_interactions() ~ ") as c") %}
    {%- set start_date = result.columns[0].values()[0] %}
{%- endif %}

with interactions as (

    select * from {{ ref('fct_ai_interactions') }}
    where user_id is not null
    {% if is_incremental() %}
      {% if start_date %}
      and event_date >= {{ add_days("cast('" ~ start_date ~ "' as date)", -29) }}
      {% else %}
      and false  -- nothing changed since the last build
      {% endif %}
    {% endif %}

),

daily as (

    select
        user_id,
        event_date,
        cast(count(*) as bigint) as interactions,
        coalesce(sum(cost_usd / sample_rate), 0) as cost_usd,
        max(updated_at) as source_updated_at
    from interactions
    group by user_id, event_date

),

rolling as (

    select
        *,
        -- Calendar windows: days without activity count as zero.
        sum(cost_usd) over (partition by user_id order by {{ days_between("cast('1970-01-01' as date)", 'event_date') }}
                            range between 6 preceding and current row) as cost_usd_7d,
        sum(cost_usd) over (partition by user_id order by {{ days_between("cast('1970-01-01' as date)", 'event_date') }}
                            range between 29 preceding and current row) as cost_usd_30d
    from daily

),

final as (

    select
        user_id,
        event_date,
        interactions,
        cast(cost_usd as double) as cost_usd,
        cast(cost_usd_7d as double) as cost_usd_7d,
        cast(cost_usd_30d as double) as cost_usd_30d,
        cast({{ var('user_budget_7d_usd') }} as double) as budget_7d_usd,
        cast({{ var('user_budget_30d_usd') }} as double) as budget_30d_usd,
        cost_usd_7d > {{ var('user_budget_7d_usd') }} as over_budget_7d,
        cost_usd_30d > {{ var('user_budget_30d_usd') }} as over_budget_30d,
        (select max(source_updated_at) from daily) as source_updated_at
    from rolling
    {% if is_incremental() and start_date %}
    where event_date >= cast('{{ start_date }}' as date)
    {% endif %}

)

select * from final
