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

{#- unique, for a test that reads only some rows (macros/tested_rows.sql): no value of the rows under test occurs
    twice in the whole table. A duplicate needs at least one row written since the last passing build (older rows
    were tested together then), so probing the whole table with the new rows' values finds every duplicate; the
    probe is one scan of the column instead of a group-by of every value (at 10M rows: 0.4 s against 3 s).
    Reading every row (a first build, --full-refresh), it is the plain group-by. Nulls are not values (as in
    unique). -#}
{% test unique_in_table(model, column_name, table) %}
    select {{ column_name }}, count(*) as rows_with_value
    from {{ table }}
    where {{ column_name }} is not null
    {%- if (model | string) != (table | string) %}
      and {{ column_name }} in (select {{ column_name }} from {{ model }})
    {%- endif %}
    group by {{ column_name }}
    having count(*) > 1
{% endtest %}

{#- Several columns of one model in one test: a test is a dbt node, and each node costs dbt ~20-40 ms however small
    its table (docs/benchmarks.md, "dbt: data tests and increments"). One scan; each failing row shows its values. -#}

{#- accepted_range_0_1 of each of these columns. -#}
{% test columns_in_range_0_1(model, columns) %}
    select {{ columns | join(', ') }}
    from {{ model }}
    where {% for c in columns %}({{ c }} < 0 or {{ c }} > 1){{ ' or ' if not loop.last }}{% endfor %}
{% endtest %}

{#- not_null of each of these columns. -#}
{% test columns_not_null(model, columns) %}
    select {{ columns | join(', ') }}
    from {{ model }}
    where {% for c in columns %}{{ c }} is null{{ ' or ' if not loop.last }}{% endfor %}
{% endtest %}
