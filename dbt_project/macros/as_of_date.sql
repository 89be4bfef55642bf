{#-
    The date the warehouse describes: "today" for recency, windows, birthdays and every segment. Use
    {{ as_of_date() }} wherever a model needs today; never current_date, so a rebuild of a past day (var
    as_of_date) gives exactly that day's answers and reruns of one night agree.

    The value lives in one place, the one-row model int_as_of_date: var('as_of_date') when set, otherwise the
    latest dump date in the lake (the nightly run's own date). Unit tests give that model as an input.
-#}
{% macro as_of_date() -%}
    (select as_of_date from {{ ref('int_as_of_date') }})
{%- endmacro %}

{#-
    The as-of date each model that asks for it was last built with, when, and with which settings (table
    as_of_dates_built), so that a model keeping per-customer summaries over windows of the as-of date can find
    the rows a moved as-of date lets in or out by their dates, and the upstream rows changed since by their
    stamps, instead of comparing a fingerprint of every customer's rows every night.

    A model records its build with the post-hook `record_as_of_date()`, inside the transaction that writes the
    table: the newest record always describes the stored rows, and a failed build records nothing.
    `last_build_as_of()` reads it when the model compiles, and answers none when there is no record (the first
    build after an upgrade, or a unit test) or when the model's settings changed since: the model then compares
    everything, as it did before. The settings are the vars its windows depend on, declared in the model's
    `meta: {as_of_settings: {...}}` (int_customer_engagement_summarized: engagement_window_days): a window
    widened or narrowed moves rows in or out that the as-of dates alone do not find.
    Rows: (model_id, as_of_date, built_at, settings); a model's hooks only insert, as two models' hooks deleting
    in one table on dbt's two threads could conflict, and on-run-end keeps each model's newest row.
-#}
{% macro as_of_dates_built_relation() -%}
    {{ return(bookkeeping_relation('as_of_dates_built')) }}
{%- endmacro %}

{#- on-run-start, for the same reason as create_deleted_keys_table. -#}
{% macro create_as_of_dates_built_table() -%}
    create table if not exists {{ as_of_dates_built_relation() }} (
        model_id varchar, as_of_date date, built_at timestamp, settings varchar
    );
    -- A table created before settings were recorded (its records then count as built with no settings).
    alter table {{ as_of_dates_built_relation() }} add column if not exists settings varchar
{%- endmacro %}

{#- This model's settings (meta.as_of_settings) as text, keys sorted; '' when it declares none. -#}
{% macro as_of_settings() -%}
    {%- set settings = (config.get('meta') or {}).get('as_of_settings') -%}
    {{ return(tojson(settings, sort_keys=true) if settings else '') }}
{%- endmacro %}

{#- Post-hook: the as-of date this build used. -#}
{% macro record_as_of_date() -%}
    insert into {{ as_of_dates_built_relation() }}
    select '{{ model.unique_id }}', as_of_date, {{ build_stamp() }}, '{{ as_of_settings() }}'
    from {{ ref('int_as_of_date') }}
{%- endmacro %}

{#-
    This model's last build, from its newest record: {'as_of_date': a date literal, 'built_at': the build's stamp
    as a timestamp literal}, or none (see above: no record, or other settings). The stamp is that of the whole
    dbt invocation, which every model of it stamps its rows with: the upstream rows stamped later changed after
    this model last read them, whether or not that build wrote any row.
-#}
{% macro last_build_as_of() -%}
    {%- if not execute or this is string or load_relation(this) is none
        or load_relation(as_of_dates_built_relation()) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set newest = run_query(
        "select strftime(arg_max(as_of_date, built_at), '%Y-%m-%d'), "
        ~ "strftime(max(built_at), '%Y-%m-%d %H:%M:%S.%f'), arg_max(coalesce(settings, ''), built_at) from "
        ~ as_of_dates_built_relation()
        ~ " where model_id = '" ~ model.unique_id ~ "'"
    ) -%}
    {%- set row = newest.rows[0] -%}
    {%- if not row[0] or row[2] != as_of_settings() -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return({
        'as_of_date': "date '" ~ row[0] ~ "'",
        'built_at': "cast('" ~ row[1] ~ "' as timestamp)",
    }) }}
{%- endmacro %}

{#- on-run-end: each model's newest record is the only one read. -#}
{% macro prune_as_of_dates_built() -%}
    {%- set built = as_of_dates_built_relation() %}
    delete from {{ built }}
    using (select model_id, max(built_at) as newest_built_at from {{ built }} group by model_id) as newest
    where {{ built }}.model_id = newest.model_id and {{ built }}.built_at < newest.newest_built_at
{%- endmacro %}
