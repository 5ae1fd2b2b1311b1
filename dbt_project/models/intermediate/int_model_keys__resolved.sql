-- What genai-prices makes of each (provider, model_id, model_version) seen in the lake: written before
-- every build by the pricing step (ingestion/prices.py, `aiw prices resolve`), one row per key.
with resolution as (

    select * from {{ source('lake', 'model_resolution') }}

),

final as (

    select
        provider,
        model_id,
        model_version,
        matched_model,
        resolved_provider_id,
        price_provider_id,
        model_ref,
        unresolved_reason,
        catalogue
    from resolution

)

select * from final
