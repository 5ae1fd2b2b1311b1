{#- Cost in USD of one call from its tokens and per-million-token rates. Cached tokens are inside
    prompt_tokens and are charged at the cache-read rate; a call routed to the application's response
    cache costs cache_hit_cost_ratio of the call it replaces. Null when tokens are unknown. -#}
{% macro token_cost(prompt_tokens, cached_tokens, completion_tokens, input_rate, cached_rate, output_rate, routing_strategy) -%}
    (
        (({{ prompt_tokens }} - coalesce({{ cached_tokens }}, 0)) * {{ input_rate }}
         + coalesce({{ cached_tokens }}, 0) * {{ cached_rate }}
         + {{ completion_tokens }} * {{ output_rate }}) / 1000000.0
        * case when {{ routing_strategy }} = 'cache' then {{ var('cache_hit_cost_ratio') }} else 1.0 end
    )
{%- endmacro %}
