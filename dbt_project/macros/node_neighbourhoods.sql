{#-
    The fingerprint of each node's neighbourhood in `links` (a relation of distinct links node_a, node_b): how
    many neighbours it has and the sum of their hashes. Adding or removing a link changes it at both ends, so
    int_identifiers_clustered compares it night to night to find the components whose links changed. Only
    the nodes all of whose links are in `links` get their true fingerprint.

    Each record links its hub to its other identifiers, and the hub is the first of them in one fixed order
    (priority, then key; a priority edit re-derives every record of the identifiers it touches), so a link
    (a, b) means a comes before b and (b, a) is never stored; only the hub's link to itself would appear twice,
    and is taken once. (Were a link ever stored both ways, it would count twice: still a function of the
    links, so a change is still seen.) union all spares the deduplication of 8.6M pairs at 1M persons that
    union did.
-#}
{% macro node_neighbourhoods(links) -%}
    select
        node,
        count(*) as neighbour_count,
        sum(hash(neighbour)) as neighbour_hash_sum
    from (
        select node_a as node, node_b as neighbour from {{ links }}
        union all
        select node_b as node, node_a as neighbour from {{ links }} where node_a <> node_b
    ) as undirected
    group by node
{%- endmacro %}
