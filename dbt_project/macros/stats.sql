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

{#- The 0.975 quantile of Student's t with `df` degrees of freedom (a two-sided 95% interval): exact to 4
    places for df <= 30 (a table: neither engine has the function), then the Cornish-Fisher expansion around
    the normal quantile 1.959964, within 1e-4 of the exact value from df 31 on. Null for df < 1. -#}
{% macro t_quantile_975(df) -%}
    {%- set table = [12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
                     2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
                     2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423] -%}
    (case
        {%- for q in table %}
        when {{ df }} = {{ loop.index }} then cast({{ q }} as double)
        {%- endfor %}
        when {{ df }} > {{ table | length }} then
            1.959964 + (power(1.959964, 3) + 1.959964) / (4.0 * {{ df }})
            + (5 * power(1.959964, 5) + 16 * power(1.959964, 3) + 3 * 1.959964) / (96.0 * {{ df }} * {{ df }})
    end)
{%- endmacro %}
