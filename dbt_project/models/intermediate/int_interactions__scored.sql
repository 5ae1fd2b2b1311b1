-- Interactions with the warehouse's own derived columns: price and implicit quality.
-- Cost is the producer's estimate until the dated price table lands (cost_source says which).
with interactions as (

    select * from {{ ref('stg_lake__interactions') }}

),

scored as (

    select
        *,
        reported_cost_usd as cost_usd,
        case when reported_cost_usd is null then 'unknown' else 'producer_estimate' end as cost_source,
        -- Rounded to 6 places so equal scores compare equal (0.23, not 0.22999999999999998).
        cast(round({{ implicit_quality('user_regenerated', 'user_edited_output', 'total_latency_ms',
                                  'prompt_tokens', 'completion_tokens') }}, 6) as double) as implicit_quality_score
    from interactions

)

select * from scored
