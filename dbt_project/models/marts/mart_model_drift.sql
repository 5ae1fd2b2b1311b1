{{ config(materialized='table') }}
-- Did a model version get worse? Each model version and day is compared, on quality, regeneration
-- rate, TTFT, latency and cost per 1k tokens, with:
--   previous: the model's previous version (by first appearance) over the trailing window ending that
--             day (during a rollout both versions serve the same traffic);
--   baseline: the same version over the window before that day (catches a silent provider change).
-- Tests: Welch's t for means (quality, TTFT, latency), a two-proportion z-test for the regeneration
-- rate, and a relative threshold for cost per 1k tokens (a price or mix change, not noise). A metric
-- drifts when both sides have drift_min_calls calls, the statistic passes drift_z_threshold in the
-- worse direction and the relative change is at least drift_min_relative_change.
{%- set w = var('drift_window_days') %}
{%- set comparisons = ['previous', 'baseline'] %}
{%- set means = [('quality', 'quality', -1), ('ttft', 'ttft_ms', 1), ('latency', 'latency_ms', 1)] %}

with daily as (

    select * from {{ ref('int_model_versions__aggregated_daily') }}

),

versions as (

    select
        model_id,
        model_version,
        lag(model_version) over (partition by model_id order by first_seen_ts, model_version) as previous_version
    from (
        select model_id, model_version, min(first_event_ts) as first_seen_ts
        from daily
        group by model_id, model_version
    ) as firsts

),

current_day as (

    select d.*, v.previous_version
    from daily as d
    inner join versions as v
        on v.model_id = d.model_id and v.model_version = d.model_version

),

{% for comparison in comparisons %}
{{ comparison }}_window as (

    select
        c.model_id,
        c.model_version,
        c.event_date,
        sum(o.interactions) as interactions,
        sum(o.quality_n) as quality_n, sum(o.quality_sum) as quality_sum, sum(o.quality_sumsq) as quality_sumsq,
        sum(o.regenerations) as regenerations,
        sum(o.ttft_n) as ttft_n, sum(o.ttft_sum) as ttft_sum, sum(o.ttft_sumsq) as ttft_sumsq,
        sum(o.latency_n) as latency_n, sum(o.latency_sum) as latency_sum, sum(o.latency_sumsq) as latency_sumsq,
        sum(o.priced_cost_usd) as priced_cost_usd, sum(o.priced_tokens) as priced_tokens
    from current_day as c
    inner join daily as o
        on o.model_id = c.model_id
    {% if comparison == 'previous' %}
       and o.model_version = c.previous_version
       and o.event_date > {{ add_days('c.event_date', -w) }}
       and o.event_date <= c.event_date
    {% else %}
       and o.model_version = c.model_version
       and o.event_date >= {{ add_days('c.event_date', -w) }}
       and o.event_date < c.event_date
    {% endif %}
    group by c.model_id, c.model_version, c.event_date

),
{% endfor %}

compared as (

    select
        c.model_id,
        c.model_version,
        c.event_date,
        c.interactions,
        c.previous_version,
        c.quality_sum / nullif(c.quality_n, 0) as avg_quality,
        c.regenerations * 1.0 / nullif(c.interactions, 0) as regeneration_rate,
        c.ttft_sum / nullif(c.ttft_n, 0) as ttft_mean_ms,
        c.latency_sum / nullif(c.latency_n, 0) as latency_mean_ms,
        1000.0 * c.priced_cost_usd / nullif(c.priced_tokens, 0) as cost_per_1k_tokens_usd
        {% for comparison in comparisons %}
        {%- set o = comparison ~ '_window' %}
        , coalesce({{ o }}.interactions, 0) as {{ comparison }}_interactions
        , {{ o }}.quality_sum / nullif({{ o }}.quality_n, 0) as {{ comparison }}_avg_quality
        , {{ o }}.regenerations * 1.0 / nullif({{ o }}.interactions, 0) as {{ comparison }}_regeneration_rate
        , {{ o }}.ttft_sum / nullif({{ o }}.ttft_n, 0) as {{ comparison }}_ttft_mean_ms
        , {{ o }}.latency_sum / nullif({{ o }}.latency_n, 0) as {{ comparison }}_latency_mean_ms
        , 1000.0 * {{ o }}.priced_cost_usd / nullif({{ o }}.priced_tokens, 0) as {{ comparison }}_cost_per_1k_tokens_usd
        {%- for name, column, _direction in means %}
        , {{ welch_t('c.' ~ name ~ '_n', 'c.' ~ name ~ '_sum', 'c.' ~ name ~ '_sumsq',
                     o ~ '.' ~ name ~ '_n', o ~ '.' ~ name ~ '_sum', o ~ '.' ~ name ~ '_sumsq') }}
            as {{ name }}_t_vs_{{ comparison }}
        {%- endfor %}
        , {{ two_proportion_z('c.regenerations', 'c.interactions', o ~ '.regenerations', o ~ '.interactions') }}
            as regeneration_z_vs_{{ comparison }}
        {% endfor %}
    from current_day as c
    {% for comparison in comparisons %}
    left join {{ comparison }}_window
        on {{ comparison }}_window.model_id = c.model_id
       and {{ comparison }}_window.model_version = c.model_version
       and {{ comparison }}_window.event_date = c.event_date
    {% endfor %}

),

flagged as (

    select
        *
        {% for comparison in comparisons %}
        {%- set enough = '(interactions >= ' ~ var('drift_min_calls') ~ ' and ' ~ comparison ~ '_interactions >= ' ~ var('drift_min_calls') ~ ')' %}
        {%- set label = "'vs previous version ' || previous_version" if comparison == 'previous' else "'vs trailing " ~ w ~ "d baseline'" %}
        {%- for name, column, direction in means %}
        {%- set rel = '(' ~ ('avg_quality' if name == 'quality' else name ~ '_mean_ms') ~ ' / nullif(' ~ comparison ~ '_' ~ ('avg_quality' if name == 'quality' else name ~ '_mean_ms') ~ ', 0) - 1)' %}
        , case when {{ enough }} and {{ direction }} * {{ name }}_t_vs_{{ comparison }} > {{ var('drift_z_threshold') }}
                    and {{ direction }} * {{ rel }} >= {{ var('drift_min_relative_change') }}
               then concat('{{ column }} ', case when {{ rel }} > 0 then '+' else '' end,
                           cast(cast(round(100 * {{ rel }}, 0) as bigint) as string), '% ', {{ label }},
                           ' (t=', cast(round({{ name }}_t_vs_{{ comparison }}, 1) as string), ')') end
            as {{ name }}_drift_vs_{{ comparison }}
        {%- endfor %}
        {%- set regen_rel = '(regeneration_rate / nullif(' ~ comparison ~ '_regeneration_rate, 0) - 1)' %}
        , case when {{ enough }} and regeneration_z_vs_{{ comparison }} > {{ var('drift_z_threshold') }}
                    and coalesce({{ regen_rel }}, 1) >= {{ var('drift_min_relative_change') }}
               then concat('regeneration_rate ', cast(round(regeneration_rate, 3) as string), ' vs ',
                           cast(round({{ comparison }}_regeneration_rate, 3) as string), ' ', {{ label }},
                           ' (z=', cast(round(regeneration_z_vs_{{ comparison }}, 1) as string), ')') end
            as regeneration_drift_vs_{{ comparison }}
        {%- set cost_rel = '(cost_per_1k_tokens_usd / nullif(' ~ comparison ~ '_cost_per_1k_tokens_usd, 0) - 1)' %}
        , case when {{ enough }} and abs({{ cost_rel }}) >= {{ var('drift_cost_relative_change') }}
               then concat('cost_per_1k_tokens ', case when {{ cost_rel }} > 0 then '+' else '' end,
                           cast(cast(round(100 * {{ cost_rel }}, 0) as bigint) as string), '% ', {{ label }}) end
            as cost_drift_vs_{{ comparison }}
        {% endfor %}
    from compared

),

reasons as (

    select
        *,
        nullif(concat_ws('; '
            {%- for comparison in comparisons %}
            {%- for metric in ['quality', 'regeneration', 'ttft', 'latency', 'cost'] %}
            , {{ metric }}_drift_vs_{{ comparison }}
            {%- endfor %}
            {%- endfor %}
        ), '') as drift_reason
    from flagged

),

final as (

    select
        model_id,
        model_version,
        event_date,
        cast(interactions as bigint) as interactions,
        previous_version,
        cast(avg_quality as double) as avg_quality,
        cast(regeneration_rate as double) as regeneration_rate,
        cast(ttft_mean_ms as double) as ttft_mean_ms,
        cast(latency_mean_ms as double) as latency_mean_ms,
        cast(cost_per_1k_tokens_usd as double) as cost_per_1k_tokens_usd,
        {% for comparison in comparisons %}
        cast({{ comparison }}_interactions as bigint) as {{ comparison }}_interactions,
        cast({{ comparison }}_avg_quality as double) as {{ comparison }}_avg_quality,
        cast({{ comparison }}_regeneration_rate as double) as {{ comparison }}_regeneration_rate,
        cast({{ comparison }}_ttft_mean_ms as double) as {{ comparison }}_ttft_mean_ms,
        cast({{ comparison }}_latency_mean_ms as double) as {{ comparison }}_latency_mean_ms,
        cast({{ comparison }}_cost_per_1k_tokens_usd as double) as {{ comparison }}_cost_per_1k_tokens_usd,
        cast(quality_t_vs_{{ comparison }} as double) as quality_t_vs_{{ comparison }},
        cast(regeneration_z_vs_{{ comparison }} as double) as regeneration_z_vs_{{ comparison }},
        cast(ttft_t_vs_{{ comparison }} as double) as ttft_t_vs_{{ comparison }},
        cast(latency_t_vs_{{ comparison }} as double) as latency_t_vs_{{ comparison }},
        {% endfor %}
        drift_reason is not null as drift_detected,
        drift_reason
    from reasons

)

select * from final
