{#-
    Tests on incremental models check the rows written since the test last passed, not the whole history.

    A night adds one day to years of rows; re-checking every stored row each night made the tests grow with the
    history while the models no longer do (docs/performance.md). An incremental model replaces the stored rows
    of every key it writes (delete+insert on its unique_key), so what a passing test proved about the table
    still holds for the rows written before it passed. The tests listed below therefore look at:
    - not_null, accepted_values: the rows written since the test last passed (a property of each row);
    - unique, unique_combination on columns that hold the model's unique_key: every row, old or new, that shares
      the key's first column with such a row, so a stored row a night failed to replace is caught too;
    - relationships to an incremental model on its unique_key (one column): the rows written since, and the
      rows whose parent key the parent deleted since (macros/deleted_keys.sql), the only two ways a child row
      the test passed on can lose its parent. The parent's keys are read whole: they are the test's lookup.
      A relationships test that stores its failures (`store_failures: true`, as one that warns every night
      should) is also marked when it warns or fails: the keys it found without a parent are kept (table
      tests_failing_keys) and their rows checked again next time, so its count stays the whole table's and a
      parent that arrives late clears them.
    Tests that compare a row with others (shares of bad values) keep reading the whole table.

    "Since the test last passed": every row carries the start of the build that wrote it (the model's
    `meta: {last_build_column: <column>}`; build_stamp(): `written_at` in the models whose `changed_at` stays
    older when a row is rewritten unchanged, or which have no other stamp), and after each run
    `record_passed_tests` notes, per test and definition, the start of the run in which it passed (table
    tests_passed_through). A test that failed, was skipped or never ran keeps its older mark (except the
    relationships tests that keep their failing keys, above), so the next night checks the rows of the failed
    night again; a new or edited test has no mark and checks the whole table once. `--vars '{full_table_tests: true}'`
    checks every row.
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set narrowed = rows_to_test(relation) -%}
    {%- if narrowed -%}
        {%- do conditions.append(narrowed) -%}
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

{#-
    Generic tests whose verdict on a whole table follows from their verdict on the rows written since they
    passed (relationships: with the rows whose parent key was deleted since).
-#}
{% macro row_scoped_tests() -%}
    {{ return(['unique', 'not_null', 'accepted_values', 'unique_combination', 'relationships']) }}
{%- endmacro %}

{#- The condition selecting the rows this test needs to see, or none for the whole table. -#}
{% macro rows_to_test(relation) -%}
    {%- if not execute -%}
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
    {%- set passed_through = test_passed_through(relation) -%}
    {%- if not passed_through -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set rows_since_passed = rows_since_test_passed(relation, stamp, passed_through) -%}
    {%- set kwargs = model.test_metadata.kwargs -%}
    {%- if test_name == 'relationships' -%}
        {{ return(rows_whose_parent_can_be_gone(kwargs, rows_since_passed, passed_through)) }}
    {%- endif -%}
    {%- if test_name not in ['unique', 'unique_combination'] -%}
        {{ return(rows_since_passed) }}
    {%- endif -%}
    {#- Uniqueness carries over from the night's keys only if the tested columns hold the key a night replaces. -#}
    {%- set tested_columns = kwargs.get('columns') or [kwargs.get('column_name')] -%}
    {%- set key_columns = key_list(tested.config.unique_key or []) -%}
    {%- if not key_columns or (key_columns | reject('in', tested_columns) | list) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set rows_sharing_a_key -%}
        {{ key_columns[0] }} in (select {{ key_columns[0] }} from {{ relation }} where {{ rows_since_passed }})
    {%- endset -%}
    {{ return(rows_sharing_a_key) }}
{%- endmacro %}

{#-
    For a relationships test: the rows written since it passed (`rows_since_passed`), those pointing at a key the
    parent deleted since, and those pointing at a key the test found without a parent when it last ran (kept when
    it stores its failures); none (the whole table) unless the parent is an incremental model whose unique_key
    is the test's `field` and whose record of deleted keys reaches back to the pass. The two key sets are read in
    one subquery, so the child's key column is scanned once.
-#}
{% macro rows_whose_parent_can_be_gone(kwargs, rows_since_passed, passed_through) -%}
    {%- set parent_ids = relationships_parent_ids(model) -%}
    {%- set parent = graph.nodes.get(parent_ids[0]) -%}
    {%- if parent_ids | length > 1 or not parent or parent.config.materialized != 'incremental'
        or single_key_column(parent.config) != kwargs.get('field') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set key_sets = keys_to_check_again(parent, passed_through) -%}
    {%- if key_sets is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not key_sets -%}
        {{ return(rows_since_passed) }}
    {%- endif -%}
    {%- set key_type = stored_column_type(stored_relation_of(parent), kwargs.get('field')) -%}
    {%- if not key_type -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set rows_of_keys -%}
        {{ kwargs.get('column_name') }} in (
            select cast(key_text as {{ key_type }}) from ({{ key_sets | join(' union all ') }})
        )
    {%- endset -%}
    {{ return('(' ~ rows_since_passed ~ ' or ' ~ rows_of_keys ~ ')') }}
{%- endmacro %}

{#-
    For the relationships test being compiled (`model`), passed through `passed_through` (a timestamp literal):
    the keys whose child rows it must check besides those written since, as a list of queries of one text column
    `key_text`: the keys `parent` (a graph node) deleted since (macros/deleted_keys.sql), and the keys the test
    found without a parent when it last ran and was marked, when it keeps them. Empty when there are none; none
    when the parent's record does not reach back to the pass (no record, or rebuilt in full since, which starts
    the record over), so the whole child table must be checked. Read in one query when the test is compiled,
    from tables of a few nights' keys. (Not from the parent's stamps: a model may restamp every row without a
    full build, as the products do on any night something changed.)
-#}
{% macro keys_to_check_again(parent, passed_through) -%}
    {%- set deleted_keys = deleted_keys_relation() -%}
    {%- set failing_keys = failing_keys_relation() -%}
    {%- if stored_relation_of(parent) is none or load_relation(deleted_keys) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set parent_id = "'" ~ parent.unique_id ~ "'" -%}
    {%- set test_id = "'" ~ model.unique_id ~ "'" -%}
    {%- set deleted_since = "deleted_key is not null and deleted_at > " ~ passed_through -%}
    {%- set kept_failing = "from " ~ failing_keys ~ " where test_id = " ~ test_id -%}
    {%- set keeps_failing = keeps_failing_keys(model) and load_relation(failing_keys) is not none -%}
    {%- set counts -%}
        select
            coalesce(bool_or(deleted_key is null and deleted_at <= {{ passed_through }}), false),
            count(*) filter (where {{ deleted_since }}),
            {% if keeps_failing %}(select count(*) {{ kept_failing }}){% else %}0{% endif %}
        from {{ deleted_keys }}
        where model_id = {{ parent_id }}
    {%- endset -%}
    {%- set found = run_query(counts).rows[0] -%}
    {%- if not found[0] -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set key_sets = [] -%}
    {%- if found[1] > 0 -%}
        {%- do key_sets.append(
            "select deleted_key as key_text from " ~ deleted_keys ~ " where model_id = " ~ parent_id
            ~ " and " ~ deleted_since) -%}
    {%- endif -%}
    {%- if found[2] > 0 -%}
        {%- do key_sets.append("select key_text " ~ kept_failing) -%}
    {%- endif -%}
    {{ return(key_sets) }}
{%- endmacro %}

{#-
    `<stamp> > <when this test last passed>`: the rows written since, or none (check the whole table); see
    test_passed_through. `passed_through`: that instant, when the caller has read it already.
-#}
{% macro rows_since_test_passed(relation, stamp, passed_through=none) -%}
    {%- set passed_through = passed_through or test_passed_through(relation) -%}
    {#- A literal: DuckDB skips the row groups of earlier builds, whose stamps are older. -#}
    {{ return(none if passed_through is none else stamp ~ ' > ' ~ passed_through) }}
{%- endmacro %}

{#-
    When the test being compiled (`model`) last passed with its present definition, as a timestamp literal; none
    (check the whole table) when it never did, the tested table does not exist yet (dbt compile on an empty
    warehouse), or full_table_tests is set.
-#}
{% macro test_passed_through(relation) -%}
    {%- if not execute or var('full_table_tests', false) or load_relation(relation) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set marks = passed_tests_relation() -%}
    {%- if load_relation(marks) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set passed = run_query(
        "select cast(max(passed_through) as varchar) from " ~ marks ~ " where test_id = '" ~ model.unique_id
        ~ "' and definition = '" ~ test_definition(model) ~ "'"
    ) -%}
    {%- set passed_through = passed.rows[0][0] if passed.rows else none -%}
    {{ return(none if passed_through is none else "cast('" ~ passed_through ~ "' as timestamp)") }}
{%- endmacro %}

{% macro passed_tests_relation() -%}
    {{ return(bookkeeping_relation('tests_passed_through')) }}
{%- endmacro %}

{#- A table the project keeps about its own runs, beside the models in the target schema. -#}
{% macro bookkeeping_relation(identifier) -%}
    {{ return(api.Relation.create(database=target.database, schema=target.schema, identifier=identifier)) }}
{%- endmacro %}

{#- A fingerprint of what a test checks: an edited test (values, columns, SQL) starts over with the whole table. -#}
{% macro test_definition(test_node) -%}
    {%- set metadata = test_node.test_metadata -%}
    {%- set kwargs = metadata.kwargs if metadata else {} -%}
    {{ return(local_md5(test_node.raw_code ~ tojson(kwargs, sort_keys=true))) }}
{%- endmacro %}

{#-
    on-run-end: for every test that passed in this run, the start of the run (every row it checked was written
    by then), with the test's definition; and likewise for the relationships tests that warned or failed with
    their failures stored, whose failing keys are kept beside the mark (tests_failing_keys). Other failed,
    warned, skipped and erroring tests keep their older mark. Failing keys of tests no longer in the project
    are dropped.
-#}
{% macro record_passed_tests(results) -%}
    {%- set marks = passed_tests_relation() -%}
    {%- set failing_keys = failing_keys_relation() -%}
    {%- set marked = [] -%}
    {%- set failures_kept = [] -%}
    {%- for result in results if result.node.resource_type == 'test' -%}
        {%- if result.status == 'pass' -%}
            {%- do marked.append(result.node) -%}
        {%- elif result.status in ['warn', 'fail'] and keeps_failing_keys(result.node) -%}
            {%- do marked.append(result.node) -%}
            {%- do failures_kept.append(result.node) -%}
        {%- endif -%}
    {%- endfor -%}
    create table if not exists {{ marks }} (test_id varchar, definition varchar, passed_through timestamp);
    create table if not exists {{ failing_keys }} (test_id varchar, key_text varchar);
    {%- if marked %}
    delete from {{ marks }} where test_id in (
        {%- for node in marked %}'{{ node.unique_id }}'{{ ', ' if not loop.last }}{% endfor -%}
    );
    insert into {{ marks }} values
        {%- for node in marked %}
        ('{{ node.unique_id }}', '{{ test_definition(node) }}', {{ build_stamp() }}){{ ',' if not loop.last }}
        {%- endfor %};
    delete from {{ failing_keys }} where test_id in (
        {%- for node in marked %}'{{ node.unique_id }}'{{ ', ' if not loop.last }}{% endfor -%}
    );
    {%- endif %}
    {#-
        Copied, not read where dbt stored them: dbt drops a test's audit table before it writes the next one, so
        the narrowed test could not read its own last failures there.
    -#}
    {%- for node in failures_kept %}
    insert into {{ failing_keys }}
    select distinct '{{ node.unique_id }}', cast(from_field as varchar) from {{ node.relation_name }};
    {%- endfor %}
    {%- if execute %}
        {%- set keeping = [] -%}
        {%- for node in graph.nodes.values() if keeps_failing_keys(node) -%}
            {%- do keeping.append("'" ~ node.unique_id ~ "'") -%}
        {%- endfor %}
    delete from {{ failing_keys }}
        {%- if keeping %} where test_id not in ({{ keeping | join(', ') }}){% endif %};
    {%- endif %}
{%- endmacro %}

{% macro failing_keys_relation() -%}
    {{ return(bookkeeping_relation('tests_failing_keys')) }}
{%- endmacro %}

{#-
    Whether a test (a graph node) keeps the keys it finds without a parent: a relationships test that stores all
    its failures (no `limit`) in a table (the `from_field` column of dbt's relationships test).
-#}
{% macro keeps_failing_keys(test_node) -%}
    {#-
        Attribute access: the node is a dict when compiling and an object in on-run-end's results; the dict
        leaves out settings that are none, which read as undefined (falsy) here.
    -#}
    {{ return(test_node.resource_type == 'test' and test_node.test_metadata is defined
        and test_node.test_metadata is not none
        and test_node.test_metadata.name == 'relationships' and test_node.relation_name is not none
        and (test_node.config.store_failures_as or 'table') == 'table' and not test_node.config.limit) }}
{%- endmacro %}
