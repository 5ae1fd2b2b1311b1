{#- The warehouse's implicit quality score (docs/marts.md, "How the numbers are made"), weights from vars.
    Order matters: penalties for regenerate and edit, then the latency factor, then verbosity, then clamp. -#}
{% macro implicit_quality(regenerated, edited, latency_ms, prompt_tokens, completion_tokens) -%}
    greatest(0.0, least(1.0,
        (
            (1.0
             - case when {{ regenerated }} then {{ var('quality_regenerate_penalty') }} else 0 end
             - case when {{ edited }} then {{ var('quality_edit_penalty') }} else 0 end)
            * case when {{ latency_ms }} > {{ var('quality_latency_threshold_ms') }}
                   then {{ var('quality_latency_factor') }} else 1.0 end
        )
        - case when {{ completion_tokens }} * 1.0 / greatest(coalesce({{ prompt_tokens }}, 0), 1)
                    > {{ var('quality_verbosity_ratio') }}
               then {{ var('quality_verbosity_penalty') }} else 0 end
    ))
{%- endmacro %}
