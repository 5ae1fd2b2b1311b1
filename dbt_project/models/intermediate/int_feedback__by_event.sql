-- Feedback folded to one row per interaction it is about (int_feedback__targets: named, or the last of a
-- rated trace): did the user regenerate or edit later, and their latest rating: by the time they gave it,
-- then the later load, then the larger feedback_id, so two ratings with the same timestamp resolve the same
-- way in every build.
with feedback as (

    select * from {{ ref('int_feedback__targets') }}

),

final as (

    select
        event_id,
        {{ bool_or("kind = 'regenerated'") }} as feedback_regenerated,
        {{ bool_or("kind = 'edited'") }} as feedback_edited,
        {{ value_at_max("case when kind = 'rating' then rating end",
                        "case when kind = 'rating' then "
                        ~ sort_key(['feedback_ts', 'loaded_at', 'feedback_id']) ~ " end") }} as feedback_rating,
        count(*) as feedback_records,
        max(loaded_at) as feedback_loaded_at
    from feedback
    group by event_id

)

select * from final
