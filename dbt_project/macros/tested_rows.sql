{#- Data tests on fct_ai_interactions read only the rows written since the last build whose data tests all passed
    (docs/benchmarks.md, "dbt: data tests and increments"). An hourly build rewrites ~50k rows of a table of
    millions; the rows it did not write were tested by an earlier build and have not changed since (only the
    model writes them, and it stamps every row it writes with updated_at = the build's start).

    A test opts in with `config: {where: "updated_at > __last_tested_build__"}`. get_where_subquery (dbt's hook
    for the `where` config) replaces the placeholder with the start of the newest build in which every such test
    ran and passed (main.data_tests_passed, written by record_tests_passed at the end of the build), read when the
    test runs and inlined as a literal. So:
      * a failing test keeps failing: the mark does not move until a build passes every opted-in test, and the
        next build tests every row written since the last one that did;
      * a first build, an emptied warehouse and `--full-refresh` test every row (no mark, or the mark is ignored);
      * on engines other than DuckDB the placeholder is the epoch: every row, every build. -#}

{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and '__last_tested_build__' in where -%}
        {%- set mark = last_tested_build() -%}
        {%- if mark is none -%}
            {%- do return(relation) -%}  {#- every row: no filter at all, so a test can tell (unique_in_table) -#}
        {%- endif -%}
        {%- set where = where | replace('__last_tested_build__', "cast('" ~ mark ~ "' as timestamp)") -%}
    {%- endif -%}
    {%- if not where -%}
        {%- do return(relation) -%}
    {%- endif -%}
    {%- set filtered -%}
        (select * from {{ relation }} where {{ where }}) dbt_subquery
    {%- endset -%}
    {%- do return(filtered) -%}
{%- endmacro %}

{#- The start of the newest build that passed every opted-in test, as 'YYYY-MM-DD HH:MM:SS'; none when every row
    must be tested (no such build, --full-refresh, another engine, parsing). -#}
{% macro last_tested_build() -%}
    {%- if not execute or flags.FULL_REFRESH or target.type != 'duckdb' -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set result = run_query("select cast(max(build_started_at) as string) from " ~ tests_passed_relation()) -%}
    {%- do return(result.columns[0].values()[0]) -%}
{%- endmacro %}

{% macro tests_passed_relation() -%}
    {{- return(api.Relation.create(database=target.database, schema='main', identifier='data_tests_passed')) -}}
{%- endmacro %}

{#- on-run-start (DuckDB): the table the mark lives in. -#}
{% macro create_tests_passed_table() -%}
    {%- if target.type == 'duckdb' -%}
    create table if not exists {{ tests_passed_relation() }} (build_started_at timestamp, recorded_at timestamp)
    {%- endif -%}
{%- endmacro %}

{#- on-run-end (DuckDB): move the mark to this build's start when every opted-in data test of the project ran in
    this build and passed. The start is written exactly as fct_ai_interactions stamps updated_at (to the second), so
    the next build's `updated_at > mark` skips exactly the rows this build and earlier ones wrote. Builds are
    seconds long and never overlap (one writer per AIW_HOME), so no later build's rows share that second. -#}
{% macro record_tests_passed(results) -%}
    {%- if execute and target.type == 'duckdb' -%}
        {%- set opted_in = [] -%}
        {%- for node in graph.nodes.values()
              if node.resource_type == 'test' and '__last_tested_build__' in (node.config.get('where') or '') -%}
            {%- do opted_in.append(node.unique_id) -%}
        {%- endfor -%}
        {%- set passed = [] -%}
        {%- for result in results if result.node.unique_id in opted_in and result.status == 'pass' -%}
            {%- do passed.append(result.node.unique_id) -%}
        {%- endfor -%}
        {%- if opted_in and passed | length == opted_in | length -%}
            insert into {{ tests_passed_relation() }}
            values (cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp), current_timestamp)
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
