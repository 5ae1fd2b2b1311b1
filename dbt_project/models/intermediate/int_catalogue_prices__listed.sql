-- The genai-prices price table (seeds/model_prices.csv, written by `aiw prices export`): one row per
-- provider, model, date period, UTC time-of-day window and prompt-size tier.
with price_table as (

    select * from {{ ref('model_prices') }}

),

final as (

    select
        provider_id,
        model_ref,
        valid_from,
        valid_to,
        utc_second_from,
        utc_second_to,
        prompt_tokens_from,
        prompt_tokens_to,
        input_usd_per_mtok,
        cache_read_usd_per_mtok,
        cache_write_usd_per_mtok,
        output_usd_per_mtok,
        reasoning_usd_per_mtok,
        request_usd
    from price_table

)

select * from final
