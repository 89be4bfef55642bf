{#-
    The keys each incremental model deleted, night by night (table deleted_keys), so that a relationships test
    pointing at the model can check the child rows written since it passed plus the children of the keys deleted
    since, instead of every child row (macros/tests_since_passed.sql).

    Between full builds an incremental model loses keys only in post-hooks that delete rows: delete+insert
    replaces the keys a night writes with the same keys. Those hooks (delete_tombstones and
    delete_rows_of_replaced_deliveries in macros/incremental.sql) both delete through
    `delete_stored_rows`, which records the keys first, in the same transaction; a new hook that deletes rows
    must do the same (a test checks the project's hooks). A full build can drop any key, so it starts the model's
    record over (`start_deleted_keys_record`, a post-hook of every model: a model with no deleting hook, such as
    the till receipts, keeps an empty record, which says it lost no key since). (A model switched from a view to
    incremental without --full-refresh is built in full without dbt reporting it as such: give it a
    --full-refresh, as dbt advises for any materialization change.)

    Rows: (model_id, deleted_key, deleted_at): the model's unique_id, the deleted key as text and the start of
    the build that deleted it. One row per model with a null deleted_key holds when its record starts: every key
    the model deleted after that instant is recorded (its last full build, or the first build that recorded).
    Only incremental models with a one-column unique_key that a relationships test points at keep a record: a
    relationships test compares one column, and a record no test reads would only be pruned.
-#}

{% macro deleted_keys_relation() -%}
    {{ return(bookkeeping_relation('deleted_keys')) }}
{%- endmacro %}

{#-
    The unique_ids of the models a relationships test points at: those it depends on besides the tested model,
    or the tested model itself when it points at itself. The narrowing and the pruning must agree on them.
-#}
{% macro relationships_parent_ids(test_node) -%}
    {{ return(test_node.depends_on.nodes | reject('equalto', test_node.attached_node) | list
        or [test_node.attached_node]) }}
{%- endmacro %}

{#-
    Every relationships test of the project by the node it points at: {parent unique_id: [test unique_ids]}. It
    decides which models keep a record of deleted keys and how long (prune_deleted_keys).
-#}
{% macro relationships_tests_by_parent() -%}
    {%- set tests_by_parent = {} -%}
    {%- for test in graph.nodes.values() if (test.test_metadata or {}).get('name') == 'relationships' -%}
        {%- for parent_id in relationships_parent_ids(test) -%}
            {%- do tests_by_parent.setdefault(parent_id, []).append(test.unique_id) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(tests_by_parent) }}
{%- endmacro %}

{#-
    on-run-start: the table, created before any model runs, as two models' hooks creating it at once on dbt's
    two threads would conflict in DuckDB's catalog.
-#}
{% macro create_deleted_keys_table() -%}
    create table if not exists {{ deleted_keys_relation() }} (
        model_id varchar, deleted_key varchar, deleted_at timestamp
    )
{%- endmacro %}

{#- The warehouse table or view of a graph node, or none when it is not built. -#}
{% macro stored_relation_of(node) -%}
    {{ return(load_relation(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias))) }}
{%- endmacro %}

{#- The type of `column` in the stored `relation`, to cast recorded text back to; none when it has no such column. -#}
{% macro stored_column_type(relation, column) -%}
    {%- set types = adapter.get_columns_in_relation(relation)
        | selectattr('name', 'equalto', column) | map(attribute='data_type') | list -%}
    {{ return(types[0] if types else none) }}
{%- endmacro %}

{#- The model's unique_key when it is one column, or none. -#}
{% macro single_key_column(node_config) -%}
    {%- set columns = key_list(node_config.get('unique_key') or []) -%}
    {{ return(columns[0] if columns | length == 1 else none) }}
{%- endmacro %}

{#-
    For a post-hook: delete the stored rows matching `deleted_rows` (a condition on `this`, aliased `stored`),
    recording their keys first when the model keeps a record (and, for a model with `departures_of`, the values
    they take with them: macros/departed_values.sql). On a full build nothing is deleted (the record starts over
    in start_deleted_keys_record). The condition is evaluated twice, once to record and once to delete (under a
    millisecond for the tombstones' null test at M).
-#}
{% macro delete_stored_rows(deleted_rows) -%}
    {%- if is_incremental() -%}
        {%- if keeps_deleted_keys(model) %}
    insert into {{ deleted_keys_relation() }}
    select distinct
        '{{ model.unique_id }}', cast(stored.{{ single_key_column(config) }} as varchar), {{ build_stamp() }}
    from {{ this }} as stored
    where {{ deleted_rows }};
        {%- endif %}
        {%- set departures_of = departures_column(config) %}
        {%- if departures_of %}
            {%- set departed_rows -%}
                select stored.{{ departures_of }} as departed_value from {{ this }} as stored where {{ deleted_rows }}
            {%- endset %}
    {{ record_departed_values(departed_rows) }}
        {%- endif %}
    delete from {{ this }} as stored
    where {{ deleted_rows }}
    {%- endif -%}
{%- endmacro %}

{#-
    Whether the model (a graph node) records the keys it deletes: incremental, a one-column unique_key, and a
    relationships test pointing at it.
-#}
{% macro keeps_deleted_keys(node) -%}
    {{ return(node.config.materialized == 'incremental' and single_key_column(node.config) is not none
        and node.unique_id in relationships_tests_by_parent()) }}
{%- endmacro %}

{#-
    A post-hook of every model (dbt_project.yml): for a model that keeps a record of its deleted keys, start the
    record over on a full build, which can drop any key unrecorded, and start it at this build when it has none
    (the model's first build, or the first since no test pointed at it). Every later key the model loses goes
    through delete_stored_rows; a model without such a hook keeps an empty record, which tells the
    relationships tests pointing at it that none of their passed rows lost its parent since.
-#}
{% macro start_deleted_keys_record() -%}
    {%- if execute and keeps_deleted_keys(model) -%}
        {%- set keys = deleted_keys_relation() -%}
        {%- set model_id = "'" ~ model.unique_id ~ "'" -%}
        {%- if not is_incremental() %}
    delete from {{ keys }} where model_id = {{ model_id }};
    insert into {{ keys }} values ({{ model_id }}, null, {{ build_stamp() }})
        {%- else %}
    insert into {{ keys }}
    select {{ model_id }}, null, {{ build_stamp() }}
    where not exists (select 1 from {{ keys }} where model_id = {{ model_id }} and deleted_key is null)
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#-
    on-run-end, after record_passed_tests: drop what no relationships test will read again. For each model a
    relationships test points at, the keys deleted before the oldest pass among those tests (a test that never
    passed reads its whole table, so needs none; when none passed, every key so far), and its record then starts
    at that instant, so that a test whose pass is older (one that comes back after it was removed) reads its
    whole table instead of trusting a record with a gap. The record of a model no test points at is dropped
    whole; its next build starts it again, and a new test pointing at it reads its whole table until its first
    pass is no older than that start.
-#}
{% macro prune_deleted_keys() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set keys = deleted_keys_relation() -%}
    {%- set readers = [] -%}
    {%- for parent_id, test_ids in relationships_tests_by_parent().items() -%}
        {%- for test_id in test_ids -%}
            {%- do readers.append("('" ~ test_id ~ "', '" ~ parent_id ~ "')") -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if not readers %}
    delete from {{ keys }};
    {%- else %}
    {%- set kept_after -%}
        (
            select readers.model_id, coalesce(min(marks.passed_through), {{ build_stamp() }}) as kept_after
            from (values {{ readers | join(', ') }}) as readers (test_id, model_id)
            left join {{ passed_tests_relation() }} as marks
                on readers.test_id = marks.test_id
            group by readers.model_id
        )
    {%- endset %}
    delete from {{ keys }}
    where model_id not in (select model_id from {{ kept_after }});
    update {{ keys }} set deleted_at = pruned.kept_after
    from {{ kept_after }} as pruned
    where {{ keys }}.model_id = pruned.model_id and deleted_key is null and deleted_at < pruned.kept_after;
    delete from {{ keys }}
    using {{ kept_after }} as pruned
    where {{ keys }}.model_id = pruned.model_id and deleted_key is not null and deleted_at <= pruned.kept_after;
    {%- endif %}
{%- endmacro %}
