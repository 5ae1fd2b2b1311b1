-- The genai-prices rows of the model each key of int_model_keys__resolved resolved to: a few per key
-- (date periods, UTC time-of-day windows, prompt-size tiers). Read by int_model_keys__price_periods (where
-- periods start and end) and int_model_keys__priced (the cells).
with resolved_keys as (

    select * from {{ ref('int_model_keys__resolved') }}

),

final as (

    select
        k.model_id,
        k.model_version,
        k.provider,
        p.valid_from,
        p.valid_to,
        p.utc_second_from,
        p.utc_second_to,
        p.prompt_tokens_from,
        p.prompt_tokens_to,
        p.input_usd_per_mtok,
        p.cache_read_usd_per_mtok,
        p.cache_write_usd_per_mtok,
        p.output_usd_per_mtok,
        p.reasoning_usd_per_mtok,
        p.request_usd
    from resolved_keys as k
    inner join {{ ref('int_catalogue_prices__listed') }} as p
        on p.provider_id = k.price_provider_id
       and p.model_ref = k.model_ref

)

select * from final
