-- Every link must join identifiers of one component. Rows returned here mean label propagation stopped
-- before it settled: raise var('identity_max_iterations') in dbt_project.yml.
with

edges as (
    select * from {{ ref('int_identity_edges') }}
),

clustered as (
    select * from {{ ref('int_identifiers_clustered') }}
)

select
    edges.node_a,
    edges.node_b,
    side_a.component as component_a,
    side_b.component as component_b
from edges
inner join clustered as side_a on edges.node_a = side_a.node
inner join clustered as side_b on edges.node_b = side_b.node
where side_a.component <> side_b.component
