-- Every price rule in force: your overrides first (source_rank 0), then the genai-prices table.
with overrides as (

    select
        nullif(provider_id, '') as provider_id,
        'override' as model_ref,
        match_type,
        lower(match_value) as match_value,
        input_usd_per_mtok,
        cached_input_usd_per_mtok,
        output_usd_per_mtok,
        valid_from,
        valid_to,
        'override' as price_source,
        0 as source_rank
    from {{ ref('price_overrides') }}

),

price_table as (

    select
        provider_id,
        model_ref,
        match_type,
        lower(match_value) as match_value,
        input_usd_per_mtok,
        cached_input_usd_per_mtok,
        output_usd_per_mtok,
        valid_from,
        valid_to,
        'price_table' as price_source,
        1 as source_rank
    from {{ ref('model_prices') }}

),

final as (

    select * from overrides
    union all
    select * from price_table

)

select * from final
