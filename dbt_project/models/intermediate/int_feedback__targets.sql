{{ config(materialized='table') }}
-- A table, not a view: fct_ai_interactions reads it twice (feedback to merge, rows to re-merge), and as a
-- view nested in both, Spark's planner ran out of heap on a 5,000-event build.
-- Which interaction each feedback record is about. Most feedback names its interaction: target_event_id is
-- an event id. Feedback tied to a whole trace instead (PostHog's $ai_feedback and survey answers, the
-- OpenAI wrapper's $ai_metric) is given to the trace's last interaction, the answer the user saw when
-- they reacted. A target that is neither stays as it is: unmatched until its interaction arrives.
with feedback as (

    select * from {{ ref('stg_lake__feedback') }}

),

targets as (

    select distinct target_event_id from feedback

),

trace_interactions as (

    -- Only the traces some feedback names (a semi-join, so the lake's interactions are filtered as read).
    select
        interactions.trace_id,
        interactions.event_id,
        row_number() over (
            partition by interactions.trace_id
            order by interactions.event_ts desc, interactions.event_id desc
        ) as position_from_last
    from {{ ref('stg_lake__interactions') }} as interactions
    inner join targets
        on targets.target_event_id = interactions.trace_id

),

last_in_trace as (

    select trace_id, event_id
    from trace_interactions
    where position_from_last = 1

),

final as (

    select
        feedback.feedback_id,
        coalesce(last_in_trace.event_id, feedback.target_event_id) as event_id,
        feedback.target_event_id,
        last_in_trace.event_id is not null as targets_trace,
        feedback.feedback_ts,
        feedback.kind,
        feedback.rating,
        feedback.source,
        feedback.source_file,
        feedback.line_number,
        feedback.loaded_at
    from feedback
    left join last_in_trace
        on last_in_trace.trace_id = feedback.target_event_id

)

select * from final
