{#- Generic data tests written here because dbt hub packages (dbt_utils) cannot be installed offline. -#}

{#- Rates and scores are fractions: every non-null value in [0, 1]. -#}
{% test accepted_range_0_1(model, column_name) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} < 0 or {{ column_name }} > 1
{% endtest %}

{#- Money and counts never go below zero. -#}
{% test non_negative(model, column_name) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} < 0
{% endtest %}

{#- The model's grain: no two rows share these columns. -#}
{% test unique_combination(model, columns) %}
    select {{ columns | join(', ') }}, count(*) as rows_per_key
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
