-- Each linking identifier with its connected component (the component's smallest identifier key).
--
-- Incremental: most people's identifiers are untouched by one more day, so a night recomputes only the
-- components whose edges changed. Every node keeps a fingerprint of its neighbourhood (how many neighbours,
-- and the sum of their hashes; node_neighbourhoods); an edge added or removed changes the fingerprint at both
-- of its ends. The components holding a node whose fingerprint changed, appeared or disappeared are
-- recomputed from tonight's edges, together with the new nodes; every other component has the same nodes and
-- edges as last night, so its label (its smallest key) is unchanged. The result equals a full recomputation
-- (tests/test_incremental.py), but for a 64-bit hash collision: two different neighbour sets with the same
-- count and the same hash sum, about 2^-64 per changed node. A node that no longer has an edge is among the
-- changed nodes (its fingerprint vanished): it gets a tombstone (component null), deleted after the insert, so
-- no night scans every link again to find such nodes. changed_at tells int_identifiers_resolved which nodes
-- were recomputed.
--
-- Only candidate nodes have their fingerprint compared, not all of them: the ends of the links written since
-- this table last changed, the identifiers re-assessed since, and the identifiers that lost a record since (the
-- removal markers of int_identifiers_observed_with_removals), among them every node no longer assessed at all:
-- an identifier leaves the assessment only when its last pair is removed. That covers every node whose links
-- changed. (After a full rebuild of the observations, which has no markers, the nodes no longer assessed are
-- found by an anti join of every stored node with the assessment, once.) A link appears only in a record's
-- rows written since (stamped). A link disappears when int_identity_edges re-derived or dropped one of its
-- records: either the node is still a linking identifier of that record, and so an end of the record's new
-- rows (each record links its hub to every linking identifier, the hub included), or the record no longer
-- carries the node, or no longer lets it link, and int_identifiers_assessed re-assessed the node (its records
-- or its block changed) or dropped it (no record carries it any more: a removal marker).
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='node',
    post_hook="{{ delete_tombstones('component') }}",
) }}

with

record_links as {{ cte_not_materialized() }} (
    -- One row per (record, link); several records often make the same link.
    select * from {{ ref('int_identity_edges') }}
),

assessed as {{ cte_not_materialized() }} (
    -- Read by incremental runs only; outside their branch so that dbt sees the ref when it parses the project.
    select * from {{ ref('int_identifiers_assessed') }}
),

identifier_removals as {{ cte_not_materialized() }} (
    -- Read by incremental runs only, like assessed.
    select * from {{ ref('int_identifiers_observed_with_removals') }} where is_removed
),

{% if is_incremental() %}
{%- do require_incremental_columns(['neighbour_count', 'neighbour_hash_sum', 'changed_at']) %}
{%- set changed_since = changed_watermark() %}

candidate_nodes as {{ cte_materialized() }} (
    select node_a as node from record_links where changed_at > {{ changed_since }}
    union
    select node_b from record_links where changed_at > {{ changed_since }}
    union
    select identifier_key from assessed where changed_at > {{ changed_since }}
    union
    select identifier_key
    from ({{ identifiers_that_lost_a_record_since_last_build('identifier_removals') }}) as lost_a_record
    {%- if rebuilt_since_last_build(ref('int_identifiers_observed_with_removals')) %}
    union
    select previous.node
    from {{ this }} as previous
    anti join assessed
        on previous.node = assessed.identifier_key
    {%- endif %}
),

candidate_links as (
    -- Every link of every candidate, once. One scan of the links probed at both ends: a semi join per end read
    -- the 12M links twice (the model's query alone at M, one-day night: 1.16-1.20 s -> 0.99-1.04 s). A link missed
    -- here would cost time, not correctness: the candidate's fingerprint would differ from its stored one, or be
    -- missing (a node without an edge), so its whole component is recomputed; the tombstone such a node also gets
    -- is deleted after the insert, and its new row stays.
    select distinct node_a, node_b
    from record_links
    where node_a in (select node from candidate_nodes)
        or node_b in (select node from candidate_nodes)
),

candidate_neighbourhoods as (
    -- The other ends of those links lack some of their links here: only the candidates' fingerprints are whole.
    select *
    from ({{ node_neighbourhoods('candidate_links') }}) as neighbourhoods
    semi join candidate_nodes using (node)
),

changed_nodes as (
    select
        coalesce(neighbourhoods.node, previous.node) as node,
        previous.component as previous_component,
        neighbourhoods.node is null as has_no_edge
    from candidate_neighbourhoods as neighbourhoods
    full outer join (select * from {{ this }} semi join candidate_nodes using (node)) as previous
        on neighbourhoods.node = previous.node
    where previous.node is null
        or neighbourhoods.node is null
        or neighbourhoods.neighbour_count <> previous.neighbour_count
        or neighbourhoods.neighbour_hash_sum <> previous.neighbour_hash_sum
),

affected_nodes as (
    -- New nodes, and every node of a component that holds a changed node.
    select node from changed_nodes where previous_component is null
    union
    select previous.node
    from {{ this }} as previous
    semi join changed_nodes
        on previous.component = changed_nodes.previous_component
),

vanished_nodes as (
    select node from changed_nodes where has_no_edge
),

-- Both ends of such an edge are affected: an edge between an affected and an unaffected node would either
-- have existed last night (one component) or be new (a changed fingerprint at both ends). So these are all the
-- links of every node they touch, and the fingerprints taken from them are whole.
edges_to_cluster as (
    select distinct node_a, node_b
    from record_links
    semi join affected_nodes
        on record_links.node_a = affected_nodes.node
),
{% else %}
edges_to_cluster as (
    select distinct node_a, node_b from record_links
),
{% endif %}

-- Every node of the edges, once, with its fingerprint: the components number them from here and carry the
-- fingerprints along, with no second grouping of the keys and no join back on them (docs/performance.md,
-- section O).
nodes_to_cluster as (
    {{ node_neighbourhoods('edges_to_cluster') }}
),

{{ connected_components(
    'edges_to_cluster',
    'nodes_to_cluster',
    var('identity_max_iterations'),
    node_columns=['neighbour_count', 'neighbour_hash_sum'],
) }},

final as (
    select
        node,
        component,
        neighbour_count,
        neighbour_hash_sum,
        {{ build_stamp() }} as changed_at
    from components
)

select * from final
{%- if is_incremental() %}
union all by name
select node, {{ build_stamp() }} as changed_at from vanished_nodes
{%- endif %}
