{#- Statistical tests over pooled sufficient statistics (n, sum, sum of squares). Each returns a SQL
    expression; nulls when a side is empty. -#}

{#- Welch's t statistic for the difference of two means (a - b). -#}
{% macro welch_t(n_a, sum_a, sumsq_a, n_b, sum_b, sumsq_b) -%}
    (
        ({{ sum_a }} / nullif({{ n_a }}, 0) - {{ sum_b }} / nullif({{ n_b }}, 0))
        / nullif(sqrt(
            greatest(({{ sumsq_a }} - {{ sum_a }} * {{ sum_a }} / nullif({{ n_a }}, 0)) / nullif({{ n_a }} - 1, 0), 0) / nullif({{ n_a }}, 0)
          + greatest(({{ sumsq_b }} - {{ sum_b }} * {{ sum_b }} / nullif({{ n_b }}, 0)) / nullif({{ n_b }} - 1, 0), 0) / nullif({{ n_b }}, 0)
        ), 0)
    )
{%- endmacro %}

{#- Two-proportion z statistic (p_a - p_b) with the pooled proportion. In double precision: with `* 1.0`
    Spark would compute in decimals and round the intermediate products to 6 places. -#}
{% macro two_proportion_z(x_a, n_a, x_b, n_b) -%}
    (
        (cast({{ x_a }} as double) / nullif({{ n_a }}, 0) - cast({{ x_b }} as double) / nullif({{ n_b }}, 0))
        / nullif(sqrt(
            (cast({{ x_a }} + {{ x_b }} as double) / nullif({{ n_a }} + {{ n_b }}, 0))
            * (1 - cast({{ x_a }} + {{ x_b }} as double) / nullif({{ n_a }} + {{ n_b }}, 0))
            * (cast(1 as double) / nullif({{ n_a }}, 0) + cast(1 as double) / nullif({{ n_b }}, 0))
        ), 0)
    )
{%- endmacro %}
