{#- Use the folder's schema name as is (`marts`, `staging`): `marts` is the schema people query (docs/marts.md). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
