{#- Incremental helpers. Values are read at compile time (each node compiles right before it runs) and
    inlined as literals, so the engine can prune lake files and row groups by them. -#}

{#- max(expr) over the model's current table, as a timestamp literal; the epoch on a first build. -#}
{% macro watermark(expr) -%}
    {%- set value = none -%}
    {%- if execute and is_incremental() -%}
        {%- set result = run_query("select cast(max(" ~ expr ~ ") as string) from " ~ this) -%}
        {%- set value = result.columns[0].values()[0] -%}
    {%- endif -%}
    cast('{{ value or "1970-01-01 00:00:00" }}' as timestamp)
{%- endmacro %}

{#- A fingerprint of the prices in force (the genai-prices table, your overrides and the genai-prices
    release the model resolution came from): when it changes, history is re-priced. Each row is joined
    into one string in SQL and the strings hashed in Jinja (local_md5), so the macro works on every
    engine. A newly seen model does not change it: its events are new rows, priced anyway. -#}
{% macro price_version() -%}
    {%- set value = 'unknown' -%}
    {#- A unit test swaps refs for fixtures, which a separate query cannot see: no fingerprint there. -#}
    {%- if execute and model.resource_type != 'unit_test' -%}
        {%- set price_columns = ['provider_id', 'model_ref', 'valid_from', 'valid_to', 'utc_second_from',
            'utc_second_to', 'prompt_tokens_from', 'prompt_tokens_to', 'input_usd_per_mtok',
            'cache_read_usd_per_mtok', 'cache_write_usd_per_mtok', 'output_usd_per_mtok',
            'reasoning_usd_per_mtok', 'request_usd'] -%}
        {%- set override_columns = ['provider_id', 'match_type', 'match_value', 'input_usd_per_mtok',
            'cache_read_usd_per_mtok', 'cache_write_usd_per_mtok', 'output_usd_per_mtok', 'request_usd',
            'valid_from', 'valid_to'] -%}
        {%- set result = run_query(
            "select r from ("
            ~ "select concat_ws('|', 'price', " ~ fingerprint_cells(price_columns) ~ ") as r from " ~ ref('int_catalogue_prices__listed')
            ~ " union all select concat_ws('|', 'override', " ~ fingerprint_cells(override_columns) ~ ") as r from "
            ~ ref('int_price_overrides__normalised')
            ~ " union all select distinct concat_ws('|', 'catalogue', catalogue) as r from " ~ ref('int_model_keys__resolved')
            ~ ") as fingerprint_rows order by r") -%}
        {%- set value = local_md5(result.columns[0].values() | join(',')) -%}
    {%- endif -%}
    '{{ value }}'
{%- endmacro %}

{#- Columns as strings for a fingerprint row ('~' marks a null, which concat_ws would skip). -#}
{% macro fingerprint_cells(columns) -%}
    {%- for c in columns -%}coalesce(cast({{ c }} as string), '~'){{ ', ' if not loop.last }}{%- endfor -%}
{%- endmacro %}
