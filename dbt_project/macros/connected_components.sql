{#-
    Connected components of an undirected graph, in set-based SQL.

    `edges` is a relation with columns node_a, node_b (varchar). Returns (node, component) where component is
    the smallest node of the component: min-label propagation with pointer jumping ("take the label of my
    label"). The result depends only on the edge set, not on row order, and a singular test
    (tests/identity/assert_identity_components_converged.sql) fails loudly if a component did not settle.

    The rounds work on integers: every node is numbered in the order of its key (node_id), so the smallest
    node_id of a component is its smallest key, and the answer is exactly the one the rounds would give on
    the keys themselves. Joins and minimums on integers are several times cheaper than on identifier strings
    of ~30 characters, and the strings are looked up only twice, at the start and at the end.

    `nodes` is a relation with one row per node of `edges` (column node), which the caller usually has
    already (int_identifiers_clustered: its neighbourhood fingerprints); `node_columns` of it are carried to
    `components`. Numbering the caller's list spares a second grouping of every key (a union of both ends of
    every edge), and the caller a join of the components back to its columns on the keys. It must hold every
    node of `edges`: an edge whose end it lacks would be dropped.
-#}
{% macro connected_components(edges, nodes, iterations, node_columns=[]) -%}
    {%- set materialized = cte_materialized() -%}
    cc_nodes as {{ materialized }} (
        select
            node,
            {%- for column in node_columns %}
            {{ column }},
            {%- endfor %}
            row_number() over (order by node) as node_id
        from {{ nodes }}
    ),

    cc_edges as {{ materialized }} (
        select side_a.node_id as node_a, side_b.node_id as node_b
        from {{ edges }} as edge_list
        inner join cc_nodes as side_a on edge_list.node_a = side_a.node
        inner join cc_nodes as side_b on edge_list.node_b = side_b.node
    ),

    {{ adapter.dispatch('component_labels', 'retail_cdp')(iterations) }},

    components as (
        select
            nodes.node,
            {%- for column in node_columns %}
            nodes.{{ column }},
            {%- endfor %}
            component_nodes.node as component
        from cc_labels as final_labels
        inner join cc_nodes as nodes on final_labels.node = nodes.node_id
        inner join cc_nodes as component_nodes on final_labels.label = component_nodes.node_id
    )
{%- endmacro %}

{#-
    cc_labels (node, label) from cc_edges: every node_id with the smallest node_id of its component.

    Portable: the rounds are unrolled `iterations` times, and every round reads every node. Components of
    diameter d settle in about log2(d) + 2 rounds; a too-small var('identity_max_iterations') makes the
    singular test fail, never a silent half-merge.
-#}
{% macro default__component_labels(iterations) -%}
    undirected as (
        select node_a as node, node_b as neighbour from cc_edges
        union
        select node_b as node, node_a as neighbour from cc_edges
        union
        select node_a as node, node_a as neighbour from cc_edges
    ),

    labels_0 as (
        select node, min(neighbour) as label from undirected group by node
    ),

    {% for i in range(1, iterations + 1) %}
    propagated_{{ i }} as (
        select undirected.node, min(labels_{{ i - 1 }}.label) as label
        from undirected
        inner join labels_{{ i - 1 }} on undirected.neighbour = labels_{{ i - 1 }}.node
        group by undirected.node
    ),

    labels_{{ i }} as (
        select propagated_{{ i }}.node, least(propagated_{{ i }}.label, jumped.label) as label
        from propagated_{{ i }}
        inner join propagated_{{ i }} as jumped on propagated_{{ i }}.label = jumped.node
    ),
    {% endfor %}

    cc_labels as (
        select node, label from labels_{{ iterations }}
    )
{%- endmacro %}

{#-
    DuckDB: a recursive CTE keyed on the node (USING KEY) runs until no label falls, and each round visits
    only the neighbours of the nodes whose label fell in the round before. At M labels fall in two rounds
    after the first (2,354,307, then 14,504) and a third finds none, where the unrolled version spent 12
    rounds over all 3.4M nodes (20 s of the model's 33 s). No round cap: labels only fall, so it stops, and
    the pointer jump keeps the rounds logarithmic in the diameter (a chain of 10,000 identifiers settles in
    13). Without the jump a long chain takes one round per link, and DuckDB's rounds slow down after a few
    hundred.

    `labels` in the recursive member is the rows the last round changed; `recurring.labels` is every node's
    current row. A node's candidate label is its changed neighbour's label, or that label's own label (the
    jump), whichever is smaller; it is written only when smaller than the node's current label. At the fixed
    point every link joins equal labels (a fall at one end always revisits the other), and the component's
    smallest node keeps its own id, so every label is the component's smallest node_id.
-#}
{% macro duckdb__component_labels(iterations) -%}
    cc_undirected as materialized (
        -- Both directions of every link; a repeated pair only repeats a candidate, which min absorbs.
        select node_a as node, node_b as neighbour from cc_edges
        union all
        select node_b as node, node_a as neighbour from cc_edges where node_a <> node_b
    ),

    cc_labels as (
        with recursive labels (node, label) using key (node) as (
            select node, least(node, min(neighbour)) as label
            from cc_undirected
            group by node

            union

            select
                cc_undirected.node,
                min(least(changed.label, label_of_label.label)) as label
            from labels as changed
            inner join recurring.labels as label_of_label
                on changed.label = label_of_label.node
            inner join cc_undirected
                on changed.node = cc_undirected.neighbour
            inner join recurring.labels as current_labels
                on cc_undirected.node = current_labels.node
            group by cc_undirected.node, current_labels.label
            having min(least(changed.label, label_of_label.label)) < current_labels.label
        )

        select node, label from labels
    )
{%- endmacro %}
