-- One row per accepted feedback record: renamed and typed, nothing else.
with source as (

    select * from {{ source('lake', 'raw_feedback') }}

),

renamed as (

    select
        feedback_id,
        target_event_id,
        {{ epoch_ms_to_timestamp('timestamp') }} as feedback_ts,
        kind,
        rating,
        schema_version,
        source,
        source_file,
        line_number,
        load_id,
        loaded_at
    from source

)

select * from renamed
