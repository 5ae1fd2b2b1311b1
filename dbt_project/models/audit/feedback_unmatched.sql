{{ config(materialized='view') }}
-- Feedback whose interaction has not arrived (yet). Kept in the lake, never dropped: it is merged into
-- its interaction by the build that loads that interaction. A growing list means a producer sends
-- feedback for calls it never reports.
with feedback as (

    select * from {{ ref('int_feedback__targets') }}

),

interactions as (

    select event_id from {{ ref('fct_ai_interactions') }}

),

final as (

    select
        feedback.feedback_id,
        feedback.target_event_id,
        feedback.kind,
        feedback.rating,
        feedback.feedback_ts,
        feedback.source_file,
        feedback.line_number,
        feedback.loaded_at
    from feedback
    left join interactions
        on interactions.event_id = feedback.event_id
    where interactions.event_id is null

)

select * from final
