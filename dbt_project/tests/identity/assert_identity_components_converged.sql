-- Every link must join identifiers of one component. Rows returned here mean label propagation stopped
-- before it settled: raise var('identity_max_iterations') in dbt_project.yml.
-- Like the generic tests on incremental models (macros/last_build_tests.sql), a night checks what its build
-- wrote: the links it wrote and every link touching a node whose component it recomputed. Other links join
-- components no build has touched since they were checked. After a full build every row carries the same
-- stamp, so every link is checked; --vars '{full_table_tests: true}' checks them all on any night.
with

edges as (
    select * from {{ ref('int_identity_edges') }}
),

clustered as (
    select * from {{ ref('int_identifiers_clustered') }}
),

recomputed_nodes as (
    select node
    from clustered
    where changed_at = (select max(changed_at) from clustered)
),

edges_to_check as (
    select *
    from edges
    {%- if not var('full_table_tests', false) %}
    where changed_at = (select max(changed_at) from edges)
        or node_a in (select node from recomputed_nodes)
        or node_b in (select node from recomputed_nodes)
    {%- endif %}
)

select
    edges_to_check.node_a,
    edges_to_check.node_b,
    side_a.component as component_a,
    side_b.component as component_b
from edges_to_check
inner join clustered as side_a on edges_to_check.node_a = side_a.node
inner join clustered as side_b on edges_to_check.node_b = side_b.node
where side_a.component <> side_b.component
