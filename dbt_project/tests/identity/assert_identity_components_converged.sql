-- Every link must join identifiers of one component. Rows returned here mean label propagation stopped
-- before it settled: on DuckDB it runs until no label falls, so that is a bug in
-- macros/connected_components.sql; elsewhere raise var('identity_max_iterations') in dbt_project.yml.
-- Like the generic tests on incremental models (macros/tests_since_passed.sql), a night checks what was written
-- since this test last passed: the links written since and every link touching a node whose component was
-- recomputed since. Other links join components no build has touched since they were checked. A first run,
-- an edited test and --vars '{full_table_tests: true}' check every link.
{%- set edges_written = rows_since_test_passed(ref('int_identity_edges'), 'changed_at') %}
{%- set nodes_recomputed = rows_since_test_passed(ref('int_identifiers_clustered'), 'changed_at') %}
with

edges as (
    select * from {{ ref('int_identity_edges') }}
),

clustered as (
    select * from {{ ref('int_identifiers_clustered') }}
),

edges_to_check as (
    select *
    from edges
    {%- if edges_written and nodes_recomputed %}
    where {{ edges_written }}
        or node_a in (select node from clustered where {{ nodes_recomputed }})
        or node_b in (select node from clustered where {{ nodes_recomputed }})
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
