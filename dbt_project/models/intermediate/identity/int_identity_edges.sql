-- Links between identifiers that may link (see int_identifiers_assessed), per record: within each record,
-- every linking identifier is tied to the record's highest-priority one. A record left with a single linking
-- identifier still contributes that identifier as a node (a self-link).
--
-- Incremental: a record's links depend on its identifiers and on whether each may link, so a night
-- re-derives the records int_identifiers_observed_with_removals re-derived or marked (an identifier removed)
-- and the records of the identifiers whose is_linking or priority changed
-- (int_identifiers_assessed.linking_changed_at). A record left with no linking identifier, or that no longer
-- names anyone (only removal markers left), leaves a tombstone (node_a null) that removes its stored links;
-- the post-hook deletes the tombstones.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='record_id',
    post_hook="{{ delete_tombstones('node_a') }}",
) }}

with

observations as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identifiers_observed') }}
),

observations_with_removals as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identifiers_observed_with_removals') }}
),

assessed as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identifiers_assessed') }}
),

{% if is_incremental() %}
records_to_link as (
    -- Re-derived since, or dropped an identifier (its removal markers): a record that went is among them.
    select record_id
    from observations_with_removals
    where changed_at > {{ changed_watermark() }}
    union
    {{ records_carrying('observations',
        'select identifier_key from assessed where linking_changed_at > ' ~ changed_watermark()) }}
    {{- records_gone_after_a_rebuild('observations') }}
),

observations_to_link as {{ cte_materialized() }} (
    -- Materialized: computed before the join with assessed, DuckDB filters the 12M observations by these
    -- records first. Inlined, it joined every observation with assessed and filtered the 12M results after
    -- (2.2 s against 0.65 s at M, docs/performance.md, Q).
    select * from observations semi join records_to_link using (record_id)
),
{% else %}
observations_to_link as (
    select * from observations
),
{% endif %}

linking_observations as (
    -- One row per (record, identifier) already: the pairs are unique (tested on int_identifiers_observed) and
    -- assessed has one row per identifier, so no distinct (a 12M-row aggregation at M).
    select
        observations.record_id,
        observations.identifier_key,
        assessed.priority
    from observations_to_link as observations
    inner join assessed
        on observations.identifier_key = assessed.identifier_key
    where assessed.is_linking
),

record_links as (
    -- The hub and the linking identifiers of each record in one aggregation, unnested below: joining the hubs
    -- back to the (record, identifier) rows made DuckDB materialize those rows to read them twice
    -- (docs/performance.md, P).
    select
        record_id,
        -- Priority as a number: as text, a priority of 10 would come before 2.
        arg_min(identifier_key, {'priority': priority, 'identifier_key': identifier_key}) as hub_key,
        list(identifier_key) as linked_keys
    from linking_observations
    group by record_id
),

final as (
    select
        record_id,
        hub_key as node_a,
        unnest(linked_keys) as node_b,
        {{ build_stamp() }} as changed_at
    from record_links
    {%- if is_incremental() %}
    union all
    select record_id, null, null, {{ build_stamp() }}
    from records_to_link
    anti join record_links using (record_id)
    {%- endif %}
)

select * from final
