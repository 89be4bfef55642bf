{#-
    The keys each incremental model deleted, night by night (table deleted_keys), so that a relationships test
    pointing at the model can check the child rows written since it passed plus the children of the keys deleted
    since, instead of every child row (macros/tests_since_passed.sql).

    Between full builds an incremental model loses keys only through the three post-hooks that delete rows
    (delete_tombstones, delete_rows_no_longer_in and delete_rows_of_replaced_deliveries in
    macros/incremental.sql): delete+insert replaces the keys a night writes with the same keys. Each of them
    records the keys first, in the same transaction. A hook that deletes rows some other way must record them
    too. A full build can drop any key, so it starts the model's record over.

    Rows: (model_id, deleted_key, deleted_at): the model's unique_id, the deleted key as text and the start of
    the build that deleted it. One row per model with a null deleted_key holds `recorded_since`: every key the
    model deleted after that instant is recorded (its last full build, or the first build that recorded).
    Models whose unique_key spans several columns record nothing: a relationships test compares one column.
-#}

{% macro deleted_keys_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema=target.schema, identifier='deleted_keys')) }}
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

{#- The model's unique_key when it is one column, or none. -#}
{% macro single_key_column(node_config) -%}
    {%- set columns = key_list(node_config.get('unique_key') or []) -%}
    {{ return(columns[0] if columns | length == 1 else none) }}
{%- endmacro %}

{#-
    Statements for a post-hook, run before it deletes: on an incremental build, the keys of the stored rows
    matching `deleted_rows` (a condition on `this`, aliased `stored`); on a full build, a new record starting
    now. Each statement ends with a semicolon, so the hook's delete can follow. Empty for composite keys.
-#}
{% macro record_deleted_keys(deleted_rows) -%}
    {%- set key_column = single_key_column(config) -%}
    {%- if key_column -%}
    {%- set keys = deleted_keys_relation() -%}
    {%- set model_id = "'" ~ model.unique_id ~ "'" -%}
    {%- if is_incremental() %}
    insert into {{ keys }}
    select {{ model_id }}, null, {{ build_stamp() }}
    where not exists (select 1 from {{ keys }} where model_id = {{ model_id }} and deleted_key is null);
    insert into {{ keys }}
    select distinct {{ model_id }}, cast(stored.{{ key_column }} as varchar), {{ build_stamp() }}
    from {{ this }} as stored
    where {{ deleted_rows }};
    {%- else %}
    delete from {{ keys }} where model_id = {{ model_id }};
    insert into {{ keys }} values ({{ model_id }}, null, {{ build_stamp() }});
    {%- endif %}
    {%- endif -%}
{%- endmacro %}

{#-
    The condition on a child table selecting the rows whose `column` holds a key `parent` (a graph node) deleted
    after `passed_through` (a timestamp literal): '' when it deleted none, none when its record does not reach
    back that far (never recorded, or rebuilt in full since), so the whole child table must be checked. Read
    when the test is compiled, from a table of a few rows per night.
-#}
{% macro children_of_keys_deleted_since(parent, column, passed_through) -%}
    {%- set keys = deleted_keys_relation() -%}
    {%- if load_relation(keys) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set model_id = "'" ~ parent.unique_id ~ "'" -%}
    {%- set record = run_query(
        "select coalesce(bool_or(deleted_key is null and deleted_at <= " ~ passed_through ~ "), false), "
        ~ "count(*) filter (where deleted_key is not null and deleted_at > " ~ passed_through ~ ") "
        ~ "from " ~ keys ~ " where model_id = " ~ model_id
    ) -%}
    {%- if not record.rows[0][0] -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if record.rows[0][1] == 0 -%}
        {{ return('') }}
    {%- endif -%}
    {%- set condition -%}
        cast({{ column }} as varchar) in (
            select deleted_key from {{ keys }}
            where model_id = {{ model_id }} and deleted_key is not null and deleted_at > {{ passed_through }}
        )
    {%- endset -%}
    {{ return(condition) }}
{%- endmacro %}

{#-
    on-run-end, after record_passed_tests: drop the deleted keys no relationships test will read again, those
    deleted before the oldest pass of the project's relationships tests, and move each model's recorded_since up
    to that pass, so that a test whose mark is older (one that comes back after it was removed) checks its
    whole table instead of trusting a record with a gap.
-#}
{% macro prune_deleted_keys() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set keys = deleted_keys_relation() -%}
    {%- set relationships_tests = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'test' and (node.test_metadata or {}).get('name') == 'relationships' -%}
            {%- do relationships_tests.append("'" ~ node.unique_id ~ "'") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if relationships_tests and load_relation(keys) is not none and load_relation(passed_tests_relation()) is not none %}
    {%- set oldest_pass -%}
        (select min(passed_through) from {{ passed_tests_relation() }}
         where test_id in ({{ relationships_tests | join(', ') }}))
    {%- endset %}
    update {{ keys }} set deleted_at = {{ oldest_pass }}
    where deleted_key is null and deleted_at < {{ oldest_pass }};
    delete from {{ keys }} where deleted_key is not null and deleted_at <= {{ oldest_pass }};
    {%- endif %}
{%- endmacro %}
