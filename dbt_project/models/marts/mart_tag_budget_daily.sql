{{ config(materialized='table') }}
-- Rolling cost of each budgeted tag value against its budget (seed tag_budgets): one row per budget line,
-- tag value and day the value had calls. A budget line names a tag value, or '*' for every value of the key
-- without a line of its own for the same window. The window is calendar days ending that day (days without
-- calls count 0), as the user budgets' are. A table, rebuilt every run: it reads the small daily tag mart,
-- and a budget line changed in the seed applies to all of history at once.
with budgets as (

    select
        cast(tag_key as {{ dbt.type_string() }}) as tag_key,
        cast(tag_value as {{ dbt.type_string() }}) as tag_value,
        cast(window_days as integer) as window_days,
        cast(budget_usd as double) as budget_usd
    from {{ ref('tag_budgets') }}

),

daily as (

    select tag_key, tag_value, event_date, cost_usd
    from {{ ref('mart_cost_by_tag_daily') }}
    where tag_key in (select tag_key from budgets)

),

tag_values as (

    select distinct tag_key, tag_value from daily

),

effective_budgets as (

    -- Per tag value and window: the value's own line, else the key's '*' line.
    select tag_key, tag_value, window_days, budget_usd, budget_tag_value
    from (
        select v.tag_key, v.tag_value, b.window_days, b.budget_usd, b.tag_value as budget_tag_value,
               row_number() over (partition by v.tag_key, v.tag_value, b.window_days
                                  order by case when b.tag_value = '*' then 1 else 0 end) as preference
        from tag_values as v
        inner join budgets as b
            on b.tag_key = v.tag_key and (b.tag_value = v.tag_value or b.tag_value = '*')
    ) as candidates
    where preference = 1

),

budgeted as (

    select d.tag_key, d.tag_value, d.event_date, e.window_days, e.budget_usd, e.budget_tag_value
    from daily as d
    inner join effective_budgets as e on e.tag_key = d.tag_key and e.tag_value = d.tag_value

),

rolling as (

    select
        b.tag_key,
        b.tag_value,
        b.event_date,
        b.window_days,
        b.budget_usd,
        b.budget_tag_value,
        sum(c.cost_usd) as cost_usd_window
    from budgeted as b
    inner join daily as c
        on c.tag_key = b.tag_key and c.tag_value = b.tag_value
       and c.event_date <= b.event_date
       and c.event_date > {{ add_days('b.event_date', '-b.window_days') }}
    group by b.tag_key, b.tag_value, b.event_date, b.window_days, b.budget_usd, b.budget_tag_value

)

select
    tag_key,
    tag_value,
    event_date,
    window_days,
    budget_tag_value,
    cast(cost_usd_window as double) as cost_usd_window,
    budget_usd,
    cost_usd_window > budget_usd as over_budget
from rolling
