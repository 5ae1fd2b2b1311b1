{#- Daily cost series for the spend marts (mart_spend_forecast, mart_spend_anomalies), as rows of
    (dimension, dimension_key, dimension_value, event_date, cost_usd), one per series and day with calls:
    - 'feature': dimension_key 'feature_id', from mart_feature_quality_daily;
    - 'model': dimension_key 'model_id', from fct_ai_interactions;
    - 'tag': dimension_key the tag key, for the tag values that have a budget line in the seed tag_budgets
      (mart_tag_budget_daily resolves which do), from mart_cost_by_tag_daily.
    Cost weighs each call by 1 / sample_rate, as in every mart. The three columns name a series without a
    null, so the marts join series on them. -#}
{% macro daily_spend(dimensions) -%}
    {%- set parts = [] -%}
    {%- if 'feature' in dimensions -%}
        {%- do parts.append("select 'feature' as dimension, 'feature_id' as dimension_key, feature_id as dimension_value, "
                            ~ "event_date, cast(cost_usd as double) as cost_usd from " ~ ref('mart_feature_quality_daily')) -%}
    {%- endif -%}
    {%- if 'model' in dimensions -%}
        {%- do parts.append("select 'model' as dimension, 'model_id' as dimension_key, model_id as dimension_value, "
                            ~ "event_date, cast(coalesce(sum(cost_usd / sample_rate), 0) as double) as cost_usd from "
                            ~ ref('fct_ai_interactions') ~ " group by model_id, event_date") -%}
    {%- endif -%}
    {%- if 'tag' in dimensions -%}
        {%- do parts.append("select 'tag' as dimension, c.tag_key as dimension_key, c.tag_value as dimension_value, "
                            ~ "c.event_date, cast(c.cost_usd as double) as cost_usd from " ~ ref('mart_cost_by_tag_daily')
                            ~ " as c inner join (select distinct tag_key, tag_value from " ~ ref('mart_tag_budget_daily')
                            ~ ") as budgeted on budgeted.tag_key = c.tag_key and budgeted.tag_value = c.tag_value") -%}
    {%- endif -%}
    {{ parts | join('\n    union all\n    ') }}
{%- endmacro %}
