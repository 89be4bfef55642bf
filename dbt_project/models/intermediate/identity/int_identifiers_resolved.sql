-- The customer_id of every linking identifier.
--
-- A component's customer_id is a hash of its anchor: the identifier seen first (ties: smallest key). New
-- data only adds identifiers seen later, so a person keeps their customer_id night after night; when two
-- people's components merge, the merged customer keeps the older one's id. Changes are logged in
-- identity_change_log.
--
-- Incremental: a night re-anchors only the components that hold a node int_identifiers_clustered recomputed
-- or an identifier int_identifiers_assessed re-assessed (its first sighting may have moved); every other
-- component has the same identifiers, seen first at the same time. changed_at is when the identifier's
-- customer_id last changed: int_records_resolved re-resolves the records of those identifiers only.
-- An identifier that left the graph gets a tombstone (customer_id null), deleted after the insert. It can only
-- be one re-assessed since the last build (it stopped linking) or one that lost a record since (its last pair
-- removed: a removal marker of int_identifiers_observed_with_removals), so only those are looked up in the
-- components, not every stored identifier (docs/performance.md, section Z). After a full rebuild of the
-- observations, which has no markers, every stored identifier is, once.
-- changed_at can stay older than the build that rewrote a row; written_at, the stamp of every row a build
-- writes, tells the tests which rows were written since they passed.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'written_at'},
    unique_key='identifier_key',
    post_hook="{{ delete_tombstones('customer_id') }}",
) }}

with

clustered as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identifiers_clustered') }}
),

assessed as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identifiers_assessed') }}
),

identifier_removals as {{ cte_not_materialized() }} (
    -- Read by incremental runs only; outside their branch so that dbt sees the ref when it parses the project.
    select * from {{ ref('int_identifiers_observed_with_removals') }} where is_removed
),

{% if is_incremental() %}
{%- do require_incremental_columns(['written_at']) %}
components_to_anchor as (
    select component from clustered where changed_at > {{ changed_watermark() }}
    union
    select clustered.component
    from clustered
    semi join (
        select identifier_key from assessed where changed_at > {{ changed_watermark() }}
    ) as reassessed
        on clustered.node = reassessed.identifier_key
),

clustered_to_anchor as (
    select * from clustered semi join components_to_anchor using (component)
),

identifiers_that_may_have_left as (
    {%- if rebuilt_since_last_build(ref('int_identifiers_observed_with_removals')) %}
    select identifier_key from {{ this }}
    {%- else %}
    select identifier_key from assessed where changed_at > {{ changed_watermark() }}
    union
    select identifier_key
    from ({{ identifiers_that_lost_a_record_since_last_build('identifier_removals') }}) as lost_a_record
    {%- endif %}
),

identifiers_still_clustered as (
    -- Probed with the few candidates: an anti join of the stored identifiers with the components would build
    -- its hash table on all of them.
    select clustered.node
    from clustered
    semi join identifiers_that_may_have_left as candidates
        on clustered.node = candidates.identifier_key
),

identifiers_that_left as (
    select stored.identifier_key
    from {{ this }} as stored
    semi join identifiers_that_may_have_left using (identifier_key)
    anti join identifiers_still_clustered
        on stored.identifier_key = identifiers_still_clustered.node
),
{% else %}
clustered_to_anchor as (
    select * from clustered
),
{% endif %}

identifiers as (
    select
        clustered.node as identifier_key,
        clustered.component,
        assessed.identifier_type,
        assessed.identifier_value,
        assessed.first_seen_at
    from clustered_to_anchor as clustered
    inner join assessed
        on clustered.node = assessed.identifier_key
),

anchors as (
    -- First sighting to the second, then the key. Compared as a (timestamp, key) pair: the same order as the
    -- formatted time the anchors were first chosen by (customer ids must not move), without formatting a
    -- string for every identifier (docs/performance.md, section AH).
    select
        component,
        arg_min(identifier_key, (date_trunc('second', first_seen_at), identifier_key)) as anchor_key
    from identifiers
    group by component
),

resolved as (
    select
        identifiers.identifier_key,
        identifiers.identifier_type,
        identifiers.identifier_value,
        'cus_' || left(md5(anchors.anchor_key), 16) as customer_id,
        anchors.anchor_key,
        identifiers.first_seen_at
    from identifiers
    inner join anchors
        on identifiers.component = anchors.component
),

final as (
    select
        resolved.*,
        {{ stamp_when_changed('resolved', ['customer_id'], 'changed_at') }} as changed_at,
        {{ build_stamp() }} as written_at
    from resolved
    {{- join_previous_row('resolved', 'identifier_key') }}
)

select * from final
{%- if is_incremental() %}
union all by name
select identifier_key, {{ build_stamp() }} as changed_at from identifiers_that_left
{%- endif %}
