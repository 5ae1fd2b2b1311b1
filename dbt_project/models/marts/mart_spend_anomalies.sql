{{ config(materialized='table') }}
-- A day's cost per feature and budgeted tag value against the same weekday of the trailing weeks (median and
-- MAD; the rule and why: the model's YAML and docs/marts.md). One row per series and day with calls. A table,
-- rebuilt every run: it reads small daily series, and a day's baseline is up to four weeks of other days.
{%- set weeks = var('spend_anomaly_baseline_weeks') | int %}
with daily as (

    {{ daily_spend(['feature', 'tag']) }}

),

series_start as (

    select dimension, dimension_key, dimension_value, min(event_date) as first_date
    from daily
    group by dimension, dimension_key, dimension_value

),

weeks_back as (

    {% for k in range(1, weeks + 1) -%}
    select {{ k }} as weeks_back{% if not loop.last %} union all {% endif %}
    {% endfor %}

),

baseline_days as (

    -- The same weekday 1..N weeks back, within the series' history (a day without calls then cost 0).
    select
        d.dimension, d.dimension_key, d.dimension_value, d.event_date,
        coalesce(b.cost_usd, 0) as baseline_cost_usd
    from daily as d
    inner join series_start as s
        on s.dimension = d.dimension and s.dimension_key = d.dimension_key and s.dimension_value = d.dimension_value
    cross join weeks_back as w
    left join daily as b
        on b.dimension = d.dimension and b.dimension_key = d.dimension_key and b.dimension_value = d.dimension_value
       and b.event_date = {{ add_days('d.event_date', '-7 * w.weeks_back') }}
    where {{ add_days('d.event_date', '-7 * w.weeks_back') }} >= s.first_date

),

medians as (

    select
        dimension, dimension_key, dimension_value, event_date,
        cast(count(*) as integer) as baseline_weeks,
        {{ percentile_cont('baseline_cost_usd', 0.5) }} as baseline_median_usd
    from baseline_days
    group by dimension, dimension_key, dimension_value, event_date

),

deviations as (

    select
        b.dimension, b.dimension_key, b.dimension_value, b.event_date,
        {{ percentile_cont('abs(b.baseline_cost_usd - m.baseline_median_usd)', 0.5) }} as baseline_mad_usd
    from baseline_days as b
    inner join medians as m
        on m.dimension = b.dimension and m.dimension_key = b.dimension_key and m.dimension_value = b.dimension_value
       and m.event_date = b.event_date
    group by b.dimension, b.dimension_key, b.dimension_value, b.event_date

),

scored as (

    select
        d.dimension, d.dimension_key, d.dimension_value, d.event_date, d.cost_usd,
        coalesce(m.baseline_weeks, 0) as baseline_weeks,
        m.baseline_median_usd,
        v.baseline_mad_usd,
        -- 1.4826 MAD estimates the standard deviation of normal data, so the score reads like a z-score.
        (d.cost_usd - m.baseline_median_usd) / nullif(1.4826 * v.baseline_mad_usd, 0) as robust_z
    from daily as d
    left join medians as m
        on m.dimension = d.dimension and m.dimension_key = d.dimension_key and m.dimension_value = d.dimension_value
       and m.event_date = d.event_date
    left join deviations as v
        on v.dimension = d.dimension and v.dimension_key = d.dimension_key and v.dimension_value = d.dimension_value
       and v.event_date = d.event_date

)

select
    dimension,
    dimension_key,
    dimension_value,
    event_date,
    cast(cost_usd as double) as cost_usd,
    cast(baseline_weeks as integer) as baseline_weeks,
    cast(baseline_median_usd as double) as baseline_median_usd,
    cast(baseline_mad_usd as double) as baseline_mad_usd,
    cast(robust_z as double) as robust_z,
    -- A jump: enough history, a real and relative increase, and a score past the threshold (or a baseline
    -- without spread at all, where any such increase stands out).
    coalesce(
        baseline_weeks >= {{ var('spend_anomaly_min_weeks') }}
        and cost_usd - baseline_median_usd >= {{ var('spend_anomaly_min_increase_usd') }}
        and cost_usd > baseline_median_usd * (1 + {{ var('spend_anomaly_min_relative_change') }})
        and (baseline_mad_usd = 0 or robust_z > {{ var('spend_anomaly_z_threshold') }}),
        false) as is_anomaly
from scored
