-- Feedback folded to one row per interaction it targets: did the user regenerate or edit later, and
-- their latest rating (by the time they gave it; later loads break ties).
with feedback as (

    select * from {{ ref('stg_lake__feedback') }}

),

final as (

    select
        target_event_id as event_id,
        {{ bool_or("kind = 'regenerated'") }} as feedback_regenerated,
        {{ bool_or("kind = 'edited'") }} as feedback_edited,
        {{ value_at_max("case when kind = 'rating' then rating end",
                        "case when kind = 'rating' then feedback_ts end") }} as feedback_rating,
        count(*) as feedback_records,
        max(loaded_at) as feedback_loaded_at
    from feedback
    group by target_event_id

)

select * from final
