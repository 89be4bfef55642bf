{#-
    Connected components of an undirected graph, in set-based SQL.

    `edges` is a relation with columns node_a, node_b (varchar). Returns (node, component) where component is
    the smallest node of the component. Min-label propagation with pointer jumping ("take the label of my
    label"), unrolled `iterations` times: components of diameter d settle in about log2(d) + 2 rounds, and a
    singular test (tests/identity/assert_identity_components_converged.sql) fails loudly if they did not, so
    a too-small var('identity_max_iterations') is never silent. The result depends only on the edge set, not
    on row order.

    The rounds work on integers: every node is numbered in the order of its key (node_id), so the smallest
    node_id of a component is its smallest key, and the answer is exactly the one the rounds would give on
    the keys themselves. Joins and minimums on integers are several times cheaper than on identifier strings
    of ~30 characters, and the strings are looked up only twice, at the start and at the end.
-#}
{% macro connected_components(edges, iterations) -%}
    {%- set materialized = cte_materialized() -%}
    cc_nodes as {{ materialized }} (
        select node, row_number() over (order by node) as node_id
        from (
            select node_a as node from {{ edges }}
            union
            select node_b from {{ edges }}
        ) as distinct_nodes
    ),

    cc_edges as {{ materialized }} (
        select side_a.node_id as node_a, side_b.node_id as node_b
        from {{ edges }} as edge_list
        inner join cc_nodes as side_a on edge_list.node_a = side_a.node
        inner join cc_nodes as side_b on edge_list.node_b = side_b.node
    ),

    undirected as {{ materialized }} (
        select node_a as node, node_b as neighbour from cc_edges
        union
        select node_b as node, node_a as neighbour from cc_edges
        union
        select node_a as node, node_a as neighbour from cc_edges
    ),

    labels_0 as {{ materialized }} (
        select node, min(neighbour) as label from undirected group by node
    ),

    {% for i in range(1, iterations + 1) %}
    propagated_{{ i }} as {{ materialized }} (
        select undirected.node, min(labels_{{ i - 1 }}.label) as label
        from undirected
        inner join labels_{{ i - 1 }} on undirected.neighbour = labels_{{ i - 1 }}.node
        group by undirected.node
    ),

    labels_{{ i }} as {{ materialized }} (
        select propagated_{{ i }}.node, least(propagated_{{ i }}.label, jumped.label) as label
        from propagated_{{ i }}
        inner join propagated_{{ i }} as jumped on propagated_{{ i }}.label = jumped.node
    ),
    {% endfor %}

    components as (
        select nodes.node, component_nodes.node as component
        from labels_{{ iterations }} as final_labels
        inner join cc_nodes as nodes on final_labels.node = nodes.node_id
        inner join cc_nodes as component_nodes on final_labels.label = component_nodes.node_id
    )
{%- endmacro %}

{#- DuckDB decides for itself whether a CTE referenced more than once is inlined or materialized. The unrolled
    iterations must be materialized (inlined, they would grow exponentially); big import CTEs must not be
    (cte_not_materialized, below). -#}
{% macro cte_materialized() -%}
    {{ return(adapter.dispatch('cte_materialized', 'retail_cdp')()) }}
{%- endmacro %}

{% macro default__cte_materialized() -%}{%- endmacro %}

{% macro duckdb__cte_materialized() -%}materialized{%- endmacro %}

{#- Import CTEs of big tables a model reads more than once: DuckDB would materialize them, copying every column
    of every row before the query runs; inlined, each reader scans only the columns it needs
    (docs/analysts.md, docs/performance.md). -#}
{% macro cte_not_materialized() -%}
    {{ return(adapter.dispatch('cte_not_materialized', 'retail_cdp')()) }}
{%- endmacro %}

{% macro default__cte_not_materialized() -%}{%- endmacro %}

{% macro duckdb__cte_not_materialized() -%}not materialized{%- endmacro %}
