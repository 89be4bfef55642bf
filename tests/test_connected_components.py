"""The connected components SQL that dbt compiles for int_identifiers_clustered, against a plain union-find.

The graphs are built to be hard for label propagation: a random graph with components of every size and
shape, and long chains whose keys fall along the chain, so the smallest key has to travel the whole length.
"""

from __future__ import annotations

import random

import duckdb
import pytest

from benchmarks.identity_scale import compiled_clustering_sql


@pytest.fixture(scope="module")
def clustering_sql(tmp_path_factory) -> str:
    return compiled_clustering_sql(tmp_path_factory.mktemp("components"))


def reference_components(edges: list[tuple[str, str]]) -> dict[str, str]:
    """Each node with the smallest node of its component, by union-find."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for node_a, node_b in edges:
        root_a, root_b = root(node_a), root(node_b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)
    return {node: root(node) for node in parent}


def clustered(sql: str, edges: list[tuple[str, str]]) -> dict[str, str]:
    con = duckdb.connect()
    con.execute("create table synthetic_edges (node_a varchar, node_b varchar)")
    con.executemany("insert into synthetic_edges values (?, ?)", edges)
    rows = con.execute(f"select node, component from ({sql})").fetchall()
    con.close()
    assert len(rows) == len({node for node, _ in rows}), "a node appears twice"
    return dict(rows)


def key(number: int) -> str:
    return f"phone:+7{number:010d}"


def test_random_graph_matches_union_find(clustering_sql):
    rng = random.Random(20261203)
    nodes = [key(number) for number in rng.sample(range(10**9), 6_000)]
    edges = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(4_500)]
    edges += [(node, node) for node in nodes[:50]]  # a hub's link to itself
    edges += edges[:300]  # the same link made by several records
    expected = reference_components(edges)

    assert clustered(clustering_sql, edges) == expected
    assert 100 < len(set(expected.values())) < len(expected), "the graph should have components of many sizes"


@pytest.mark.parametrize("length", [2, 700, 5_000])
def test_chain_with_falling_keys_settles_on_its_smallest_key(clustering_sql, length):
    """Each key smaller than the one before, the smallest at the far end: the worst case for propagation."""
    chain = [key(10**9 - position) for position in range(length + 1)]
    edges = list(zip(chain, chain[1:]))
    # a star-shaped component beside it, and the chain's middle tied to a bigger key both ways
    outlier = key(2 * 10**9)
    edges += [(key(5), key(6)), (key(5), key(7)), (outlier, chain[length // 2]), (chain[length // 2], outlier)]

    components = clustered(clustering_sql, edges)

    assert components == reference_components(edges)
    assert {components[node] for node in chain} == {chain[-1]}
    assert components[outlier] == chain[-1]
    assert components[key(7)] == key(5)
