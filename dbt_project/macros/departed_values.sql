{#-
    The values rows took with them when they left an incremental model (table departed_values), so that a model
    reading it can find what it must derive again from what changed instead of comparing every group.

    A model that sets `meta: {departures_of: <column>}` records, for every stored row a build replaces or
    deletes, the value that row held in <column> when the new row (if any) holds another: int_records_resolved
    records `customer_id`, the customer a record left, which the profiles must derive again and which nothing
    else names once the record is rewritten. Rows leave an incremental model in two ways between full builds:
    delete+insert replaces them (get_incremental_delete_insert_sql below records them from the rows it is about
    to delete, in the build's transaction), and post-hooks delete them (delete_stored_rows in
    macros/deleted_keys.sql records there).

    Rows: (model_id, departed_value, departed_at): the model's unique_id, the value as text and the start of the
    build. One row per model with a null departed_value holds when its record starts: its first build that
    recorded, or its last full build. A full build records nothing (it can drop anything), so on-run-end
    starts the record over at it (prune_departed_values), and a reader also checks that the model was not
    rebuilt in full since it last ran (a run stopped before on-run-end): values_departed_since does both and
    answers none when the record cannot be trusted. A model recording departures is stamped with changed_at.
-#}

{% macro departed_values_relation() -%}
    {{ return(bookkeeping_relation('departed_values')) }}
{%- endmacro %}

{#- on-run-start, for the same reason as create_deleted_keys_table. -#}
{% macro create_departed_values_table() -%}
    create table if not exists {{ departed_values_relation() }} (
        model_id varchar, departed_value varchar, departed_at timestamp
    )
{%- endmacro %}

{#- The column a model records departures of (meta.departures_of), or none. -#}
{% macro departures_column(node_config) -%}
    {{ return((node_config.get('meta') or {}).get('departures_of')) }}
{%- endmacro %}

{#-
    Statements recording the values of `departed_rows` (a query with a `departed_value` column) for this model:
    its record's start first, when it has none.
-#}
{% macro record_departed_values(departed_rows) -%}
    {%- set departures = departed_values_relation() -%}
    {%- set model_id = "'" ~ model.unique_id ~ "'" %}
    insert into {{ departures }}
    select {{ model_id }}, null, {{ build_stamp() }}
    where not exists (
        select 1 from {{ departures }} where model_id = {{ model_id }} and departed_value is null
    );
    insert into {{ departures }}
    select distinct {{ model_id }}, cast(departed_rows.departed_value as varchar), {{ build_stamp() }}
    from ({{ departed_rows }}) as departed_rows
    where departed_rows.departed_value is not null;
{%- endmacro %}

{#-
    delete+insert, as dbt runs it, except for a model with `departures_of`, which also records the values of the
    stored rows it replaces with a row holding another value (a tombstone holds none), matched on every
    unique_key column as dbt's delete matches them.
-#}
{% macro get_incremental_delete_insert_sql(arg_dict) -%}
    {%- set column = departures_column(config) -%}
    {%- if not column -%}
        {{ return(adapter.dispatch('get_incremental_delete_insert_sql', 'dbt')(arg_dict)) }}
    {%- endif -%}
    {%- set key_columns = key_list(config.get('unique_key') or []) -%}
    {%- if not key_columns or arg_dict['incremental_predicates'] -%}
        {{ exceptions.raise_compiler_error(
            model.name ~ " records departures of " ~ column ~ " (meta.departures_of), which needs a unique_key "
            ~ "and no incremental_predicates") }}
    {%- endif -%}
    {{ return(adapter.dispatch('delete_insert_recording_departures', 'retail_cdp')(
        arg_dict, column, key_columns)) }}
{%- endmacro %}

{#- The join of the stored rows with the incoming ones on the key, as `stored` and `incoming`. -#}
{% macro stored_rows_replaced(arg_dict, key_columns) -%}
    from {{ arg_dict['target_relation'] }} as stored
    inner join {{ arg_dict['temp_relation'] }} as incoming
        on {% for key_column in key_columns -%}
            {{ 'and ' if not loop.first }}stored.{{ key_column }} = incoming.{{ key_column }}
        {% endfor -%}
{%- endmacro %}

{#- Any adapter: the record from a join of its own, then dbt's delete+insert. -#}
{% macro default__delete_insert_recording_departures(arg_dict, column, key_columns) -%}
    {%- set replaced_rows -%}
        select stored.{{ column }} as departed_value
        {{ stored_rows_replaced(arg_dict, key_columns) }}
        where stored.{{ column }} is distinct from incoming.{{ column }}
    {%- endset -%}
    {{ record_departed_values(replaced_rows) }}
    {{ adapter.dispatch('get_incremental_delete_insert_sql', 'dbt')(arg_dict) }}
{%- endmacro %}

{#-
    DuckDB: the stored rows replaced are found once, with their row ids, into a temporary table; the departures
    are recorded from it, and the delete removes them by row id (row ids stay put within the build's
    transaction). The join of its own beside dbt's delete probed every stored key twice: at M in a one-day
    night, 0.27 s for the join and 0.23 s for the delete of the 141k incoming web events among 17.3M, against
    0.27 s to find them once, 0.01 s to record and 0.01 s to delete by row id (docs/performance.md, section AR).
-#}
{% macro duckdb__delete_insert_recording_departures(arg_dict, column, key_columns) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set replaced = 'temp.main."' ~ target.identifier ~ '__replaced_rows"' -%}
    {%- set columns_csv = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) %}
    create or replace temporary table {{ replaced }} as
    select
        stored.rowid as stored_rowid,
        stored.{{ column }} as stored_value,
        incoming.{{ column }} as incoming_value,
    {{ stored_rows_replaced(arg_dict, key_columns) }};
    {{ record_departed_values(
        'select stored_value as departed_value from ' ~ replaced
        ~ ' where stored_value is distinct from incoming_value'
    ) }}
    delete from {{ target }} where rowid in (select stored_rowid from {{ replaced }});
    insert into {{ target }} ({{ columns_csv }}) (select {{ columns_csv }} from {{ arg_dict['temp_relation'] }});
    drop table {{ replaced }}
{%- endmacro %}

{#-
    The values `relation` (a graph node recording departures) recorded after `since` (a timestamp literal), as a
    query of one column, `departed_value`, cast back to the column's type; none when the record does not reach
    back that far: no record, one that starts after `since`, or a full build of the model after `since`. Whether
    it reaches back is read when the model is compiled; the values, when its query runs.
-#}
{% macro values_departed_since(relation, since) -%}
    {%- if not execute or this is string -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set nodes = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | selectattr('alias', 'equalto', relation.identifier) | list -%}
    {%- set node = nodes[0] if nodes | length == 1 else none -%}
    {%- set column = departures_column(node.config) if node else none -%}
    {%- set departures = departed_values_relation() -%}
    {%- if not column or load_relation(departures) is none or load_relation(relation) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set model_id = "'" ~ node.unique_id ~ "'" -%}
    {%- set record = run_query(
        "select coalesce(bool_or(departed_value is null and departed_at <= " ~ since ~ "), false) from "
        ~ departures ~ " where model_id = " ~ model_id
    ) -%}
    {%- if not record.rows[0][0] or rebuilt_since_last_build(relation, since=since) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set column_type = stored_column_type(relation, column) -%}
    {%- if not column_type -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set departed -%}
        select cast(departed_value as {{ column_type }}) as departed_value
        from {{ departures }}
        where model_id = {{ model_id }} and departed_value is not null and departed_at > {{ since }}
    {%- endset -%}
    {{ return(departed) }}
{%- endmacro %}

{#-
    on-run-end. A model that records departures and was built in full in this run (every row stamped by it, read
    once here by rebuilt_since_last_build) starts its record over at that build: a reader built since then
    needs only what its later builds record, and with the record starting at the first full build, the first
    incremental night can already read it.
    Then drop the departures older than every reader can still need. A reader compares its own watermark with
    the record's start and reads the whole model when the record does not reach back, so the record only has to
    cover the nights a reader may miss: `departures_kept_days` (var, 30 by default). The record then starts at
    that instant.
-#}
{% macro prune_departed_values() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set departures = departed_values_relation() -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and departures_column(node.config) %}
        {%- set relation = stored_relation_of(node) %}
        {%- if relation is not none
            and rebuilt_since_last_build(relation, since=build_stamp() ~ " - interval 1 microsecond") %}
            {%- set model_id = "'" ~ node.unique_id ~ "'" %}
    delete from {{ departures }} where model_id = {{ model_id }};
    insert into {{ departures }} values ({{ model_id }}, null, {{ build_stamp() }});
        {%- endif %}
    {%- endfor %}
    {%- set kept_after = build_stamp() ~ " - interval " ~ (var('departures_kept_days', 30) | int) ~ " day" %}
    update {{ departures }} set departed_at = {{ kept_after }}
    where departed_value is null and departed_at < {{ kept_after }};
    delete from {{ departures }}
    where departed_value is not null and departed_at <= {{ kept_after }};
{%- endmacro %}
