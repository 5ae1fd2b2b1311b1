-- Your prices (seeds/price_overrides.csv): they win over the genai-prices table on the days they cover.
-- A blank price here fails the data test price_overrides_have_every_price (it is never read as "no override").
with overrides as (

    select * from {{ ref('price_overrides') }}

),

final as (

    select
        nullif(provider_id, '') as provider_id,
        match_type,
        lower(match_value) as match_value,
        input_usd_per_mtok,
        cache_read_usd_per_mtok,
        cache_write_usd_per_mtok,
        output_usd_per_mtok,
        request_usd,
        valid_from,
        valid_to,
        note
    from overrides

)

select * from final
