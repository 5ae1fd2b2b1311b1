{{ config(materialized='table') }}
-- A table for the same reason as int_model_keys__priced, which reads it (Spark's planner).
--
-- Each model key's timeline (int_model_keys__resolved) cut into date pieces wherever one of your overrides
-- or a genai-prices period starts or ends, with the best-ranked of your overrides in force over each piece
-- (null rates where none is). int_model_keys__priced lays genai-prices' cells over these pieces.
with resolved_keys as (

    select
        model_id,
        model_version,
        provider
    from {{ ref('int_model_keys__resolved') }}

),

key_overrides as (

    -- Your overrides that can apply to each key, ranked: exact names before prefixes, longer prefixes
    -- first, an override naming the event's provider before one for any provider.
    select
        k.model_id,
        k.model_version,
        k.provider,
        o.input_usd_per_mtok,
        o.cache_read_usd_per_mtok,
        o.cache_write_usd_per_mtok,
        o.output_usd_per_mtok,
        o.request_usd,
        o.valid_from,
        o.valid_to,
        case when o.match_type = 'equals' then 0 else 10000 end
          - length(o.match_value) * 10
          + case when o.provider_id = lower(k.provider) then 0 else 1 end as rule_rank
    from resolved_keys as k
    inner join {{ ref('int_price_overrides__normalised') }} as o
        on (o.match_type = 'equals'
              and o.match_value in (lower(k.model_id), lower(concat(k.model_id, '-', k.model_version))))
        or (o.match_type = 'starts_with'
              and ({{ starts_with('lower(k.model_id)', 'o.match_value') }}
                   or {{ starts_with("lower(concat(k.model_id, '-', k.model_version))", 'o.match_value') }}))
    where o.provider_id is null or k.provider is null or o.provider_id = lower(k.provider)

),

key_table_periods as (

    -- The date periods of genai-prices' rows for the model each key resolved to.
    select distinct model_id, model_version, provider, valid_from, valid_to
    from {{ ref('int_model_keys__catalogue_prices') }}

),

key_ranges as (

    select model_id, model_version, provider, valid_from, valid_to from key_overrides
    union all
    select model_id, model_version, provider, valid_from, valid_to from key_table_periods
    union all
    select model_id, model_version, provider, cast('2000-01-01' as date) as valid_from,
           cast('9999-12-31' as date) as valid_to
    from resolved_keys

),

key_boundaries as (

    -- Cut each key's timeline wherever an override or a genai-prices period starts or ends ...
    select distinct
        r.model_id,
        r.model_version,
        r.provider,
        case when ends.side = 0 then r.valid_from else r.valid_to end as period_start
    from key_ranges as r
    cross join (select 0 as side union all select 1 as side) as ends

),

key_periods as (

    select
        model_id,
        model_version,
        provider,
        period_start,
        lead(period_start) over (partition by model_id, model_version, provider order by period_start) as period_end
    from key_boundaries

),

period_overrides as (

    -- ... keep the best-ranked override in force over each piece ...
    select
        p.model_id,
        p.model_version,
        p.provider,
        p.period_start,
        o.input_usd_per_mtok,
        o.cache_read_usd_per_mtok,
        o.cache_write_usd_per_mtok,
        o.output_usd_per_mtok,
        o.request_usd
    from key_periods as p
    inner join key_overrides as o
        on {{ same_model_key('o', 'p') }}
       and o.valid_from <= p.period_start
       and o.valid_to >= p.period_end
    where p.period_end is not null
    qualify row_number() over (
        partition by p.model_id, p.model_version, p.provider, p.period_start order by o.rule_rank) = 1

),

final as (

    select
        p.model_id,
        p.model_version,
        p.provider,
        p.period_start,
        p.period_end,
        o.model_id is not null as has_override,
        o.input_usd_per_mtok as override_input_usd_per_mtok,
        o.cache_read_usd_per_mtok as override_cache_read_usd_per_mtok,
        o.cache_write_usd_per_mtok as override_cache_write_usd_per_mtok,
        o.output_usd_per_mtok as override_output_usd_per_mtok,
        o.request_usd as override_request_usd
    from key_periods as p
    left join period_overrides as o
        on {{ same_model_key('o', 'p') }}
       and o.period_start = p.period_start
    where p.period_end is not null

)

select * from final
