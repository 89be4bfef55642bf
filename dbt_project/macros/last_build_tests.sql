{#-
    Tests on incremental models check the rows the model's last build wrote, not the whole history.

    A night adds one day to years of rows; re-checking every stored row each night made the tests grow with the
    history while the models no longer do (docs/performance.md). An incremental model replaces the stored rows
    of every key it writes (delete+insert on its unique_key), so what held for the table before a night still
    holds for the rows the night did not write. The tests listed below therefore look at:
    - not_null, accepted_values: the rows of the last build (a property of each row);
    - unique, unique_combination on columns that hold the model's unique_key: every row, old or new, that shares
      the key's first column with a row of the last build, so a stored row the night failed to replace is
      caught as a duplicate too.
    Tests that compare a row with others (relationships, shares of bad values, the singular tests) keep reading
    the whole table.

    A model opts in with `meta: {last_build_column: <column>}`: the column every row it writes is stamped with,
    the start of that build (build_stamp()); the last build's rows carry the newest stamp. After a first build or
    a full refresh every row carries the same stamp, and the whole table is checked; to check every row on an
    ordinary night, run with `--vars '{full_table_tests: true}'`.
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set last_build = last_build_scope(relation) -%}
    {%- if last_build -%}
        {%- do conditions.append(last_build) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- Generic tests whose verdict on a whole table follows from their verdict on the rows a night wrote. -#}
{% macro row_scoped_tests() -%}
    {{ return(['unique', 'not_null', 'accepted_values', 'unique_combination']) }}
{%- endmacro %}

{#- The condition selecting what this test needs to see of the last build, or none for the whole table. -#}
{% macro last_build_scope(relation) -%}
    {%- if not execute or var('full_table_tests', false) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set test_name = (model.get('test_metadata') or {}).get('name') -%}
    {%- set tested = graph.nodes.get(model.get('attached_node') or '') -%}
    {%- if test_name not in row_scoped_tests() or not tested or tested.config.materialized != 'incremental' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set stamp = (tested.config.meta or {}).get('last_build_column') -%}
    {%- if not stamp -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set last_build_rows = last_build_condition(relation, stamp) -%}
    {%- if not last_build_rows -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if test_name not in ['unique', 'unique_combination'] -%}
        {{ return(last_build_rows) }}
    {%- endif -%}
    {#- Uniqueness carries over from the night's keys only if the tested columns hold the key a night replaces. -#}
    {%- set kwargs = model.test_metadata.kwargs -%}
    {%- set tested_columns = kwargs.get('columns') or [kwargs.get('column_name')] -%}
    {%- set key_columns = key_list(tested.config.unique_key or []) -%}
    {%- if not key_columns or (key_columns | reject('in', tested_columns) | list) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set rows_sharing_a_key -%}
        {{ key_columns[0] }} in (select {{ key_columns[0] }} from {{ relation }} where {{ last_build_rows }})
    {%- endset -%}
    {{ return(rows_sharing_a_key) }}
{%- endmacro %}

{#-
    `<stamp> = <the newest stamp>` for the rows of the relation's last build, or none when the whole table was
    built at once (first build, full refresh) or full_table_tests is set: then there is nothing to narrow.
    Read when the test runs, right after the model's build; the literal lets DuckDB skip the row groups of
    earlier builds, whose stamps are older.
-#}
{% macro last_build_condition(relation, stamp) -%}
    {%- if not execute or var('full_table_tests', false) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set stamps = run_query('select cast(max(' ~ stamp ~ ') as varchar), max(' ~ stamp ~ ') = min(' ~ stamp
        ~ ') from ' ~ relation) -%}
    {%- set newest, built_at_once = stamps.rows[0][0], stamps.rows[0][1] -%}
    {%- if newest is none or built_at_once -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(stamp ~ " = cast('" ~ newest ~ "' as timestamp)") }}
{%- endmacro %}
