{{ config(materialized='table') }}
-- Month-end spend forecast per feature, model and budgeted tag value, as of each day the series had calls
-- (the method and why: the model's YAML and docs/marts.md). A table, rebuilt every run: it reads small daily
-- series, and each day's forecast needs the trailing window and the month so far, which any new day changes.
{%- set window_days = var('spend_forecast_window_days') %}
with daily as (

    {{ daily_spend(['feature', 'model', 'tag']) }}

),

series_start as (

    select dimension, dimension_key, dimension_value, min(event_date) as first_date
    from daily
    group by dimension, dimension_key, dimension_value

),

as_of as (

    select
        d.dimension, d.dimension_key, d.dimension_value, d.event_date,
        {{ month_start('d.event_date') }} as month_start,
        {{ month_end('d.event_date') }} as month_end,
        -- The run-rate window: the last window_days calendar days, or fewer for a series younger than that.
        least({{ window_days }}, {{ days_between('s.first_date', 'd.event_date') }} + 1) as window_days
    from daily as d
    inner join series_start as s
        on s.dimension = d.dimension and s.dimension_key = d.dimension_key and s.dimension_value = d.dimension_value

),

sums as (

    -- One join for both sums: the window's days (days without calls count 0 through window_days) and the
    -- month's days so far.
    select
        a.dimension, a.dimension_key, a.dimension_value, a.event_date, a.month_start, a.month_end, a.window_days,
        sum(case when w.event_date > {{ add_days('a.event_date', '-a.window_days') }} then w.cost_usd else 0 end)
            as window_cost_usd,
        sum(case when w.event_date > {{ add_days('a.event_date', '-a.window_days') }}
                 then w.cost_usd * w.cost_usd else 0 end) as window_cost_sq,
        sum(case when w.event_date >= a.month_start then w.cost_usd else 0 end) as month_to_date_cost_usd
    from as_of as a
    inner join daily as w
        on w.dimension = a.dimension and w.dimension_key = a.dimension_key and w.dimension_value = a.dimension_value
       and w.event_date <= a.event_date
       and (w.event_date >= a.month_start or w.event_date > {{ add_days('a.event_date', '-a.window_days') }})
    group by a.dimension, a.dimension_key, a.dimension_value, a.event_date, a.month_start, a.month_end, a.window_days

),

rates as (

    select
        *,
        window_cost_usd / window_days as daily_run_rate_usd,
        case when window_days >= 2 then sqrt(greatest(
            (window_cost_sq - window_cost_usd * window_cost_usd / window_days) / (window_days - 1), 0)) end
            as daily_cost_stddev_usd,
        {{ days_between('event_date', 'month_end') }} as remaining_days
    from sums

),

projected as (

    select
        *,
        month_to_date_cost_usd + remaining_days * daily_run_rate_usd as projected_month_cost_usd,
        -- Prediction interval of the sum of remaining_days future days: variance remaining_days * s^2 of the
        -- days themselves plus remaining_days^2 * s^2 / window_days of the estimated mean.
        {{ t_quantile_975('window_days - 1') }} * daily_cost_stddev_usd
            * sqrt(remaining_days + remaining_days * remaining_days * 1.0 / window_days) as interval_half_width_usd
    from rates

),

budget_lines as (

    -- A tag value's budget for the month: its longest budget line (the value's own line or the key's '*', as
    -- mart_tag_budget_daily resolves them), pro-rated to the month's length.
    select tag_key, tag_value, window_days as budget_window_days, budget_usd as budget_line_usd, budget_tag_value
    from (
        select tag_key, tag_value, window_days, budget_usd, budget_tag_value,
               row_number() over (partition by tag_key, tag_value order by window_days desc) as preference
        from (select distinct tag_key, tag_value, window_days, budget_usd, budget_tag_value
              from {{ ref('mart_tag_budget_daily') }}) as lines
    ) as ranked
    where preference = 1

),

budgeted as (

    select
        p.*,
        b.budget_window_days,
        b.budget_tag_value,
        b.budget_line_usd * ({{ days_between('p.month_start', 'p.month_end') }} + 1) / b.budget_window_days
            as budget_usd
    from projected as p
    left join budget_lines as b
        on p.dimension = 'tag' and b.tag_key = p.dimension_key and b.tag_value = p.dimension_value

),

exhaustion as (

    select
        *,
        -- The first day of the month the month-to-date cost went over the budget (null until it does).
        min(case when month_to_date_cost_usd > budget_usd then event_date end) over (
            partition by dimension, dimension_key, dimension_value, month_start order by event_date
            rows between unbounded preceding and current row) as budget_exceeded_on
    from budgeted

)

select
    dimension,
    dimension_key,
    dimension_value,
    event_date,
    month_start,
    cast(month_to_date_cost_usd as double) as month_to_date_cost_usd,
    cast(window_days as integer) as window_days,
    cast(daily_run_rate_usd as double) as daily_run_rate_usd,
    cast(daily_cost_stddev_usd as double) as daily_cost_stddev_usd,
    cast(remaining_days as integer) as remaining_days,
    cast(projected_month_cost_usd as double) as projected_month_cost_usd,
    -- The month's cost cannot fall below what is spent already.
    cast(case when interval_half_width_usd is not null
              then greatest(projected_month_cost_usd - interval_half_width_usd, month_to_date_cost_usd) end as double)
        as projected_month_cost_low_usd,
    cast(projected_month_cost_usd + interval_half_width_usd as double) as projected_month_cost_high_usd,
    cast(budget_usd as double) as budget_usd,
    budget_tag_value,
    cast(budget_window_days as integer) as budget_window_days,
    -- The day the budget runs out at the run rate: the day it was exceeded, else the first day whose
    -- cumulative cost goes over it (null when that is after the month's end, or the rate is 0).
    case
        when budget_exceeded_on is not null then budget_exceeded_on
        when daily_run_rate_usd > 0
             and floor((budget_usd - month_to_date_cost_usd) / daily_run_rate_usd) + 1 <= remaining_days
            then {{ add_days('event_date', 'cast(floor((budget_usd - month_to_date_cost_usd) / daily_run_rate_usd) + 1 as integer)') }}
    end as budget_runs_out_on,
    projected_month_cost_usd > budget_usd as projected_over_budget
from exhaustion
