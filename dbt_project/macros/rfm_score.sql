{#-
    A score 1..buckets for `value` across all rows of the query (the window spans the whole relation):
    1 + floor((customers strictly worse) * buckets / customers). Higher is better; with
    higher_is_better=false the smallest value scores highest (a count of days since, say).

    Tie-safe and deterministic: rank() gives equal values the same rank, so two customers who last bought on
    the same day always get the same score, and the result depends only on the multiset of values, never on
    row order (ntile and row_number split ties arbitrarily). The worst value always scores 1 and a tie group
    takes the bucket where it starts: one-time buyers, usually the largest group, score F1.
    Integer arithmetic, so no floating-point edge (3/5 * 5 = 3.0000000000000004) moves a bucket boundary.
-#}
{% macro rfm_score(value, buckets, higher_is_better=true) -%}
    cast(
        1 + ((rank() over (order by {{ value }} {{ 'asc' if higher_is_better else 'desc' }}) - 1) * {{ buckets | int }})
            // count(*) over ()
        as integer
    )
{%- endmacro %}
