{#- Cost in USD of one call, as genai-prices computes it, from the columns of relation alias `p`: its
    tokens and the rates of the price cell it joined. cached_tokens (cache reads) and cache_write_tokens
    are both inside prompt_tokens, reasoning_tokens inside completion_tokens; each kind is charged its
    own rate (the price table already carries a kind without its own price at its parent's rate), plus
    the per-call fee. A call routed to the application's response cache costs cache_hit_cost_ratio of
    the call it replaces. Null when the token counts are unknown. -#}
{% macro token_cost(p) -%}
    (
        ((({{ p }}.prompt_tokens - coalesce({{ p }}.cached_tokens, 0) - coalesce({{ p }}.cache_write_tokens, 0))
            * {{ p }}.input_usd_per_mtok
          + coalesce({{ p }}.cached_tokens, 0) * {{ p }}.cache_read_usd_per_mtok
          + coalesce({{ p }}.cache_write_tokens, 0) * {{ p }}.cache_write_usd_per_mtok
          + ({{ p }}.completion_tokens - coalesce({{ p }}.reasoning_tokens, 0)) * {{ p }}.output_usd_per_mtok
          + coalesce({{ p }}.reasoning_tokens, 0) * {{ p }}.reasoning_usd_per_mtok) / 1000000.0
         + {{ p }}.request_usd)
        * case when {{ p }}.routing_strategy = 'cache' then {{ var('cache_hit_cost_ratio') }} else 1.0 end
    )
{%- endmacro %}

{#- Rows of relations `a` and `b` are about the same model key (model_id, model_version, provider; the
    provider may be null on both sides). -#}
{% macro same_model_key(a, b) -%}
    {{ a }}.model_id = {{ b }}.model_id
       and {{ a }}.model_version = {{ b }}.model_version
       and {{ a }}.provider is not distinct from {{ b }}.provider
{%- endmacro %}
