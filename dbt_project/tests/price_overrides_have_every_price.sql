{{ config(store_failures=true) }}
-- Every override row names every price and its validity window: a blank cell is an error to fix (write
-- 0 for a free component), never a silent "no override". Each failing row says which row and cells.
with overrides as (

    select * from {{ ref('price_overrides') }}

),

checked as (

    select
        concat('price_overrides.csv row (provider_id=', coalesce(provider_id, ''), ', match_type=',
               coalesce(match_type, ''), ', match_value=', coalesce(match_value, ''), ', valid_from=',
               coalesce(cast(valid_from as string), ''), ')') as override_row,
        concat_ws(', ',
            case when match_type is null or match_type not in ('equals', 'starts_with')
                 then 'match_type must be equals or starts_with' end,
            case when match_value is null or match_value = '' then 'match_value is blank' end,
            case when input_usd_per_mtok is null then 'input_usd_per_mtok is blank' end,
            case when cache_read_usd_per_mtok is null then 'cache_read_usd_per_mtok is blank' end,
            case when cache_write_usd_per_mtok is null then 'cache_write_usd_per_mtok is blank' end,
            case when output_usd_per_mtok is null then 'output_usd_per_mtok is blank' end,
            case when request_usd is null then 'request_usd is blank' end,
            case when valid_from is null then 'valid_from is blank' end,
            case when valid_to is null then 'valid_to is blank' end,
            case when valid_from >= valid_to then 'valid_from is not before valid_to' end) as problems
    from overrides

)

select override_row, problems from checked where problems <> ''
