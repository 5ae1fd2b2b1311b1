{{ config(unique_key='event_date', partition_by='event_date') }}
-- Cost and quality per tag value and day: every call counts once under each of its tags (a call tagged
-- tenant=acme and env=prod is in both rows), so rows of different tag keys overlap and only rows of one
-- tag_key add up. Calls without tags are in no row. Totals (calls, tokens, cost) weigh each call by
-- 1 / sample_rate, like every mart; rates and the mean quality are over observed calls.
-- Incremental: whole days, recomputed for the days whose calls changed.
with interactions as (

    {{ interactions_for_changed('event_date') }}

),

tagged as (

    select
        event_date,
        entry.key as tag_key,
        entry.value as tag_value,
        prompt_tokens,
        completion_tokens,
        cost_usd,
        sample_rate,
        implicit_quality_score,
        is_error,
        updated_at
    from (
        select *, {{ explode_list('map_entries(tags)') }} as entry
        from interactions
        where tags is not null
    ) as exploded

),

final as (

    select
        tag_key,
        tag_value,
        event_date,
        cast(count(*) as bigint) as interactions,
        cast(sum(1.0 / sample_rate) as double) as estimated_interactions,
        cast(coalesce(sum(coalesce(prompt_tokens, 0) / sample_rate), 0) as double) as prompt_tokens,
        cast(coalesce(sum(coalesce(completion_tokens, 0) / sample_rate), 0) as double) as completion_tokens,
        cast(coalesce(sum(cost_usd / sample_rate), 0) as double) as cost_usd,
        cast(count_if(cost_usd is null) as bigint) as unpriced_interactions,
        cast(avg(implicit_quality_score) as double) as avg_implicit_quality,
        cast(avg(case when is_error then 1 else 0 end) as double) as error_rate,
        max(updated_at) as source_updated_at
    from tagged
    group by tag_key, tag_value, event_date

)

select * from final
