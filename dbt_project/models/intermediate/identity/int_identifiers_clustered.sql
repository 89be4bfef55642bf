-- Each linking identifier with its connected component (the component's smallest identifier key).
--
-- Incremental: most people's identifiers are untouched by one more day, so a night recomputes only the
-- components whose edges changed. Every node keeps a fingerprint of its neighbourhood (how many neighbours,
-- and the sum of their hashes); an edge added or removed changes the fingerprint at both of its ends. The
-- components holding a node whose fingerprint changed, appeared or disappeared are recomputed from tonight's
-- edges, together with the new nodes; every other component has the same nodes and edges as last night, so
-- its label (its smallest key) is unchanged. The result equals a full recomputation
-- (tests/test_incremental.py), but for a 64-bit hash collision: two different neighbour sets with the same
-- count and the same hash sum, about 2^-64 per changed node. A node that no longer has an edge is among the
-- changed nodes (its fingerprint vanished): it gets a tombstone (component null), deleted after the insert, so
-- no night scans every link again to find such nodes. changed_at tells int_identifiers_resolved which nodes
-- were recomputed.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='node',
    post_hook="{{ delete_tombstones('component') }}",
) }}

with

edges as (
    -- The links of all records; several records often make the same link.
    select distinct node_a, node_b from {{ ref('int_identity_edges') }}
),

neighbourhoods as (
    select
        node,
        count(*) as neighbour_count,
        sum(hash(neighbour)) as neighbour_hash_sum
    from (
        -- Both directions of every link. Each record links its hub to its other identifiers, and the hub is the
        -- first of them in one fixed order (priority, then key; a priority edit re-derives every record of the
        -- identifiers it touches), so a link (a, b) means a comes before b and (b, a) is never stored; only the
        -- hub's link to itself would appear twice, and is taken once. (Were a link ever stored both ways, it
        -- would count twice: still a function of the links, so a change is still seen.) union all spares the
        -- deduplication of 8.6M pairs at 1M persons that union did.
        select node_a as node, node_b as neighbour from edges
        union all
        select node_b as node, node_a as neighbour from edges where node_a <> node_b
    ) as undirected
    group by node
),

{% if is_incremental() %}
{%- do require_incremental_columns(['neighbour_count', 'neighbour_hash_sum', 'changed_at']) %}
changed_nodes as (
    select
        coalesce(neighbourhoods.node, previous.node) as node,
        previous.component as previous_component,
        neighbourhoods.node is null as has_no_edge
    from neighbourhoods
    full outer join {{ this }} as previous
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
-- have existed last night (one component) or be new (a changed fingerprint at both ends).
edges_to_cluster as (
    select edges.*
    from edges
    semi join affected_nodes
        on edges.node_a = affected_nodes.node
),

-- Exactly the ends of those edges, with their fingerprints.
nodes_to_cluster as (
    select neighbourhoods.*
    from neighbourhoods
    semi join (
        select node_a as node from edges_to_cluster
        union
        select node_b from edges_to_cluster
    ) as ends
        on neighbourhoods.node = ends.node
),
{% else %}
edges_to_cluster as (
    select * from edges
),

-- Every node of the edges, once: the neighbourhoods already hold each with its fingerprint, so the
-- components number them from here and carry the fingerprints along, with no second grouping of the keys
-- and no join back on them (docs/performance.md, section O).
nodes_to_cluster as (
    select * from neighbourhoods
),
{% endif %}

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
