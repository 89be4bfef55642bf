{#-
    Incremental nights. The big append-mostly tables (events, messaging activity, order documents and lines)
    read only what ingestion wrote since the table was last built, instead of the whole lake. Every lake row
    carries `_loaded_at`, the time ingestion wrote its partition; a table's watermark is the newest
    `loaded_at` it holds. That is exact because ingestion and the build never overlap (one Dagster pool for
    both, orchestration/settings.py): every partition a build reads was loaded before it started, and every
    partition loaded later carries a later time. See docs/performance.md ("Incremental nights") for the rules
    and when to rebuild.

    Strategy (delete+insert on the model's unique_key) and on_schema_change (fail) are set for every model in
    dbt_project.yml.
-#}

{#- The newest lake load this table has already read (or none on a first build). -#}
{% macro loaded_watermark() -%}
    {{ stored_watermark('loaded_at') }}
{%- endmacro %}

{#-
    The newest `column` (a timestamp) of the stored table, 1970-01-01 when it is empty; `expression` when the
    column needs converting (a time zone). On DuckDB the value is read when the model is compiled, just before
    it runs, and written into its SQL as a literal: the table has not changed since, so the value is the one a
    subquery would read, but a literal lets DuckDB skip the row groups of earlier builds and earlier lake loads
    by their min/max, and estimate how few rows pass. Behind a subquery the planner saw neither: it scanned and
    compared every stored row, and sized joins as if every row passed (docs/performance.md, section P).
-#}
{% macro stored_watermark(column, expression=none) -%}
    {%- do require_incremental_columns([column]) -%}
    {{ return(adapter.dispatch('stored_watermark', 'retail_cdp')(expression or column)) }}
{%- endmacro %}

{% macro default__stored_watermark(expression) -%}
    {{ return("(select coalesce(max(" ~ expression ~ "), timestamp '1970-01-01') from " ~ this ~ ")") }}
{%- endmacro %}

{% macro duckdb__stored_watermark(expression) -%}
    {#- Parsing (no warehouse yet), or a unit test, whose `this` is a fixture: the subquery. -#}
    {%- if not execute or this is string -%}
        {{ return(default__stored_watermark(expression)) }}
    {%- endif -%}
    {%- set newest = run_query(
        "select strftime(coalesce(max(" ~ expression ~ "), timestamp '1970-01-01'), '%Y-%m-%d %H:%M:%S.%f') from "
        ~ this
    ) -%}
    {{ return("cast('" ~ newest.rows[0][0] ~ "' as timestamp)") }}
{%- endmacro %}

{#-
    An incremental run reads state from the stored table. A table built by an earlier version of the model
    may lack it; say so, with the fix, instead of failing on a missing column deep in the compiled SQL.
-#}
{% macro require_incremental_columns(columns) -%}
    {#- In a unit test `this` is a fixture, not a stored table: nothing to check. -#}
    {%- if execute and this is not string -%}
        {%- set stored = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        {%- set missing = columns | reject('in', stored) | list -%}
        {%- if missing -%}
            {{ exceptions.raise_compiler_error(
                this ~ " was built without " ~ missing | join(', ') ~ ", which its incremental runs need (it was "
                ~ "built by an earlier version of " ~ model.name ~ "). Rebuild it once from the lake: "
                ~ "python -m orchestration.nightly --full-refresh, or dbt build --full-refresh --select "
                ~ model.name ~ "+"
            ) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#-
    A where clause: on an incremental run, only the rows loaded since the last build. On the lake source the
    column is `_loaded_at`; on a staging model it is `loaded_at`.
-#}
{% macro only_new_deliveries(loaded_at_column='_loaded_at') -%}
    {%- if is_incremental() %}
    where {{ loaded_at_column }} > {{ loaded_watermark() }}
    {%- endif %}
{%- endmacro %}

{#-
    A where clause for a model stamped with `changed_at` that reads a staging model: on an incremental run, only
    the rows staged since the model's last build (`staged_at`, the start of the build that staged the row, is
    comparable with `changed_at`, the start of the build that wrote one). A staging model stamps every row it
    writes, so a key staged again (the same values delivered again included) is read again; comparing is the
    reader's job.
-#}
{% macro only_staged_since_last_build() -%}
    {%- if is_incremental() %}
    where staged_at > {{ changed_watermark() }}
    {%- endif %}
{%- endmacro %}

{#-
    For the staging models where the latest version of a key is not always the latest delivery (shop accounts
    and loyalty members: the latest `updated_at` wins). A dump sent again replaces the earlier delivery of its
    date in the lake, and can hand a key back to an older row (its winning row corrected to an earlier update,
    or gone). A where clause on the lake source: on an incremental run, only the raw rows of the keys to stage
    again, those delivered since the last build and those whose stored row came from a delivery the lake no
    longer holds, so each is deduplicated again over all its raw rows, exactly as a full build does. Every other
    key has the same raw rows as when it was staged, so the same winner. A key left with no raw row at all is
    deleted after the insert (`delete_rows_of_replaced_deliveries`). Before, these tables were rebuilt from
    every raw row every night (docs/performance.md, section AA).
-#}
{% macro only_keys_to_stage_again(source_relation, source_key, staged_key) -%}
    {%- if is_incremental() %}
    {%- do require_incremental_columns(['staged_at']) %}
    where {{ source_key }} in (
        select {{ source_key }} from {{ source_relation }} where _loaded_at > {{ loaded_watermark() }}
        union all
        select stored.{{ staged_key }}
        from {{ this }} as stored
        anti join ({{ lake_deliveries(source_relation) }}) as deliveries
            on stored.dump_date = deliveries.dump_date and stored.loaded_at = deliveries.loaded_at
    )
    {%- endif %}
{%- endmacro %}

{#- Each delivery the lake holds for a source table: a dump date and the load that wrote it. -#}
{% macro lake_deliveries(source_relation) -%}
    select distinct _dump_date as dump_date, _loaded_at as loaded_at from {{ source_relation }}
{%- endmacro %}

{#-
    Post-hook of a model staged with `only_keys_to_stage_again`: the stored rows whose delivery the lake no
    longer holds and that tonight's run did not replace belong to keys with no raw row left.
-#}
{% macro delete_rows_of_replaced_deliveries(source_relation) -%}
    {%- set delivery_gone -%}
        not exists (
            select 1 from ({{ lake_deliveries(source_relation) }}) as deliveries
            where deliveries.dump_date = stored.dump_date and deliveries.loaded_at = stored.loaded_at
        )
    {%- endset -%}
    {{ delete_stored_rows(delivery_gone) }}
{%- endmacro %}

{#-
    The stored rows of this table whose key is among `relation`'s keys, in two steps: the stored keys that
    match, read from the key columns alone, then the whole stored rows of those few keys. In one step DuckDB
    read every column of every stored row its join filter let through (a range of keys, so most of them) before
    the join dropped nearly all: for the web events of a one-day night at M 0.76-1.15 s against 0.35-0.37 s
    (docs/performance.md, section AD).
-#}
{% macro stored_rows_of_keys_in(relation, unique_key) -%}
    select stored.*
    from {{ this }} as stored
    semi join (
        select {{ key_csv(unique_key) }}
        from {{ this }}
        semi join {{ relation }} using ({{ key_csv(unique_key) }})
    ) as stored_keys using ({{ key_csv(unique_key) }})
{%- endmacro %}

{#-
    `deduplicate`, made safe for incremental runs: the new deliveries compete with the rows the table already
    holds for the same keys, under the same order. So a late dump of an older date cannot overwrite a newer
    version, and a key delivered twice in one night keeps one row. On a full build it is `deduplicate`.
    The relation must have the table's columns exactly (derived columns are computed before this step).
    `stored_rows`: a CTE of the model holding those stored rows already, when the model reads them for more
    than this (stg_web__events: the login an event had before), so the stored table is probed once.
-#}
{% macro deduplicate_incrementally(relation, unique_key, order_by, stored_rows=none) -%}
    {%- if is_incremental() %}
    {%- do require_incremental_columns(['staged_at']) %}
    select *
    from (
        select * from {{ relation }}
        union all by name
        {%- if stored_rows %}
        select * from {{ stored_rows }}
        {%- else %}
        {{ stored_rows_of_keys_in(relation, unique_key) }}
        {%- endif %}
    )
    qualify row_number() over (partition by {{ key_csv(unique_key) }} order by {{ order_by }}) = 1
    {%- else %}
    {{ deduplicate(relation, unique_key, order_by) }}
    {%- endif %}
{%- endmacro %}

{#-
    Whether `relation` (an incremental model stamped with `changed_at`) was rebuilt in full since this table was
    last built: then every row of it is newer than this table's watermark. A model that keeps removal markers
    (int_identifiers_observed_with_removals) loses them in a full rebuild, so the tables that rely on them to
    drop what went (the identity models keyed by record or identifier, and the event tables, which learn from
    them which identifiers left the graph) must compare their keys with it once instead. Read when the model is
    compiled, like stored_watermark (a min over one column: 0.01 s on 12M rows at M). True for an empty
    relation, and for one not built yet (`dbt compile` on a warehouse built before the relation existed: the
    run builds it in full). `since` is this table's watermark when it is not `changed_watermark()` (the change
    log stamps instants).
-#}
{% macro rebuilt_since_last_build(relation, since=none) -%}
    {%- if not execute or this is string -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if load_relation(relation) is none -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set rebuilt = run_query(
        "select coalesce(min(changed_at) > " ~ (since or changed_watermark()) ~ ", true) from " ~ relation
    ) -%}
    {{ return(rebuilt.rows[0][0]) }}
{%- endmacro %}

{#-
    Whether anything a model reads changed after `since` (a timestamp literal), asked when the model is compiled:
    a row stamped later in one of `stamped` (pairs of a relation and its stamp column), or `also_when` (a
    condition, for the changes no stamp shows: rows deleted since) holds. A model that derives everything again
    when its inputs changed skips the work on a night when none did. True when it cannot tell (parsing, a unit
    test).
-#}
{% macro inputs_changed_since(stamped, since, also_when=none) -%}
    {%- if not execute or this is string -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set probes = [] -%}
    {%- for relation, stamp_column in stamped -%}
        {%- do probes.append("select 1 from " ~ relation ~ " where " ~ stamp_column ~ " > " ~ since) -%}
    {%- endfor -%}
    {%- set conditions = ["exists (" ~ probes | join(" union all ") ~ ")"] if probes else [] -%}
    {%- if also_when -%}
        {%- do conditions.append("(" ~ also_when ~ ")") -%}
    {%- endif -%}
    {%- set changed = run_query("select " ~ (conditions | join(" or ") if conditions else "false")) -%}
    {{ return(changed.rows[0][0]) }}
{%- endmacro %}

{#-
    For the models keyed by record that learn which records went from the removal markers of
    int_identifiers_observed_with_removals: after a full rebuild of the observations, which has no markers, a
    `union` of the stored records that `observations` (the pairs not removed) no longer holds; otherwise nothing.
-#}
{% macro records_gone_after_a_rebuild(observations) -%}
    {%- if rebuilt_since_last_build(ref('int_identifiers_observed_with_removals')) %}
    union
    select record_id from {{ this }} anti join {{ observations }} using (record_id)
    {%- endif %}
{%- endmacro %}

{#-
    Change propagation between incremental models that are not read from the lake (identity resolution, the
    unified orders). Every row such a model writes carries `changed_at`, the start of the dbt invocation that
    wrote it (int_identifiers_resolved keeps it only when the row's customer_id changed). A downstream model's
    watermark is the newest `changed_at` it holds, so the upstream rows stamped later include every row
    rewritten since it last ran (one invocation stamps every model alike, and each model runs after its
    parents); re-reading a row twice changes nothing.
-#}
{% macro build_stamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{% macro changed_watermark() -%}
    {{ stored_watermark('changed_at') }}
{%- endmacro %}

{#-
    Post-hook of an incremental model that must delete keys tonight's input no longer yields (a record that
    lost all its identifiers): the model emits a tombstone row for such a key, with `marker_column` null, so
    delete+insert removes the stored rows; the tombstones themselves are deleted here, after their keys are
    recorded (macros/deleted_keys.sql; a scan of the null counts, under a millisecond at M).
-#}
{% macro delete_tombstones(marker_column) -%}
    {{ delete_stored_rows('stored.' ~ marker_column ~ ' is null') }}
{%- endmacro %}

{#-
    The tombstones an incremental model appends for its stored rows whose `key` is no longer among `current` (a
    relation of the model holding that key): the stored row's `columns` (default: the key) and the build stamp
    as `changed_at`, every other column null (`written_at` too), added with `union all by name`. delete+insert
    replaces the stored rows with them, and the post-hook `delete_tombstones` deletes them. Nothing on a full
    build. `among` (a relation holding `key`): only the stored keys it holds, the keys a night derived again
    when it finds them from change lists.
-#}
{% macro union_tombstones_of_stored_keys_not_in(current, key, columns=none, among=none) -%}
    {%- if is_incremental() %}
    union all by name
    select {{ (columns or [key]) | join(', ') }}, {{ build_stamp() }} as changed_at
    from {{ this }}
    {%- if among %}
    semi join {{ among }} using ({{ key }})
    {%- endif %}
    anti join {{ current }} using ({{ key }})
    {%- endif %}
{%- endmacro %}

{#-
    The identifiers whose customer changed since this table was last built (`changed_at`): those whose
    customer_id changed or that are new (int_identifiers_resolved.changed_at), and those that started or stopped
    linking (int_identifiers_assessed.linking_changed_at). Rows resolved through any other identifier still
    have the customer they were written with.
-#}
{% macro identifiers_moved_since_last_build(resolved, assessed) -%}
    select identifier_key, identifier_type, identifier_value
    from {{ resolved }}
    where changed_at > {{ changed_watermark() }}
    union
    select identifier_key, identifier_type, identifier_value
    from {{ assessed }}
    where linking_changed_at > {{ changed_watermark() }}
{%- endmacro %}

{#-
    The identifiers that lost a record since this table was last built: the removal markers of
    int_identifiers_observed_with_removals stamped since (`observations_with_removals`, a CTE of that table).
    Every identifier that left the identity graph since is among them, as an identifier leaves it only by leaving
    the assessment (its last pair removed: a marker) or by no longer linking (`linking_changed_at`, in
    identifiers_moved_since_last_build). So the event tables find the stored rows of an identifier that left by
    its value, among a few markers, instead of anti-joining every stored row with the identifiers still resolved
    (docs/performance.md, section Z). A full rebuild of the observations has no markers: callers fall back to the
    anti join once (`rebuilt_since_last_build`). `since` as in rebuilt_since_last_build.
-#}
{% macro identifiers_that_lost_a_record_since_last_build(observations_with_removals, since=none) -%}
    select identifier_key, identifier_type, identifier_value
    from {{ observations_with_removals }}
    where is_removed and changed_at > {{ since or changed_watermark() }}
{%- endmacro %}

{#-
    A stamp that moves only when some of `columns` change: the build stamp when the row is new or one of them
    differs from the stored row, else the stored stamp (`stamp_column`). A full build stamps every row. The
    stored row is joined as `previous` by `join_previous_row`.
-#}
{% macro stamp_when_changed(current, columns, stamp_column) -%}
    {%- if is_incremental() -%}
    case
        when previous.{{ stamp_column }} is null
        {%- for column in columns %}
            or previous.{{ column }} is distinct from {{ current }}.{{ column }}
        {%- endfor %}
            then {{ build_stamp() }}
        else previous.{{ stamp_column }}
    end
    {%- else -%}
    {{ build_stamp() }}
    {%- endif -%}
{%- endmacro %}

{#-
    `key`: a column, or a list of columns (the model's unique_key). The stored rows are narrowed to the keys of
    `current` (a CTE of the model) before the left join: joined directly, DuckDB builds its hash table on every
    stored row, as the join must keep every row of `current` (at 2M persons, int_identifiers_assessed's one-day
    query took 2.54-2.73 s joined to its 6.9M stored rows directly, 2.37-2.42 s narrowed: docs/performance.md,
    section AY). `current` is read twice; DuckDB computes such a CTE once (its profile shows it materialized).
-#}
{% macro join_previous_row(current, key) -%}
    {%- if is_incremental() %}
    left join (
        select * from {{ this }} semi join {{ current }} using ({{ key_list(key) | join(', ') }})
    ) as previous
        on {% for column in key_list(key) -%}
        {{ current }}.{{ column }} = previous.{{ column }}{{ ' and ' if not loop.last }}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}

{#-
    The records that carry one of `identifiers` (a query with an identifier_key column): the records whose
    links, customer or order change when those identifiers do.
-#}
{% macro records_carrying(observations, identifiers) -%}
    select record_id
    from {{ observations }}
    where identifier_key in (select identifier_key from ({{ identifiers }}) as listed)
{%- endmacro %}

{#-
    The keys of `fingerprints` (a CTE with `key` and the `columns` this table stores for it) that are new or whose
    fingerprint differs from the stored one: the rows a per-key incremental model derives again. The stored rows
    whose key is no longer among `fingerprints` are the model's tombstones, found apart.
-#}
{% macro keys_whose_fingerprint_changed(fingerprints, key, columns) -%}
    select {{ fingerprints }}.{{ key }}
    from {{ fingerprints }}
    left join {{ this }} as stored
        on {{ fingerprints }}.{{ key }} = stored.{{ key }}
    where stored.{{ key }} is null
        {%- for column in columns %}
        or stored.{{ column }} <> {{ fingerprints }}.{{ column }}
        {%- endfor %}
{%- endmacro %}

{#-
    The rows of `relation` (a CTE with one row per `key_column`) that a night must write: on an incremental run
    only those new or whose values differ from the stored row, compared by one 64-bit hash of every value but
    the key (`values_fingerprint`: equal fingerprints mean equal rows but for a collision). The unchanged keep
    their stored row and its changed_at, so changed_at tells when a row's values last changed. A full build
    writes every row. For the tables under a view that adds the as-of columns (int_customers_assembled,
    int_customer_rfm_scored): the view's columns move every night, the stored ones rarely.
-#}
{% macro rows_with_changed_values(relation, key_column) -%}
    {%- if is_incremental() %}
    {%- do require_incremental_columns(['values_fingerprint', 'changed_at']) %}
    {%- endif %}
    select
        fingerprinted.*,
        {{ build_stamp() }} as changed_at
    from (
        select
            *,
            hash(*columns(* exclude ({{ key_column }}))) as values_fingerprint,
        from {{ relation }}
    ) as fingerprinted
    {%- if is_incremental() %}
    anti join {{ this }} as stored using ({{ key_column }}, values_fingerprint)
    {%- endif %}
{%- endmacro %}
