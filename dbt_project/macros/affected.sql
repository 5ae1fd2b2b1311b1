{#- Rows of fct_ai_interactions whose `key` (event_date, hour, ...) was touched by a change since this
    model's last build: the rows to recompute a delete+insert mart from. -#}
{% macro interactions_for_changed(key_expr) -%}
    select * from {{ ref('fct_ai_interactions') }}
    {% if is_incremental() %}
    where {{ key_expr }} in (select distinct {{ key_expr }} from ({{ changed_interactions() }}) as changed)
    {% endif %}
{%- endmacro %}
