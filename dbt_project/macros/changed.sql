{#- Rows of fct_ai_interactions (re)written since this model last saw them, by fct's updated_at. A mart
    recomputes only the keys (dates, hours, sessions, hashes) those rows touch. -#}
{% macro changed_interactions() -%}
    select * from {{ ref('fct_ai_interactions') }}
    {% if is_incremental() %}
    where updated_at > {{ watermark('source_updated_at') }}
    {% endif %}
{%- endmacro %}
