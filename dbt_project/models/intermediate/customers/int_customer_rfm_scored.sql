-- RFM scores per customer who has purchased, over every channel, without the as-of columns: frequency
-- (purchases), monetary (net revenue), the three scores, the cell and the segment. customer_rfm is a view over
-- this table that adds recency_days and the as-of date. Each dimension is scored 1..rfm_bucket_count, higher is
-- better, by the tie-safe rfm_value_scores macro: equal values always get equal scores and row order never
-- matters.
-- Recency is ranked by the last purchase date, oldest first: the same order as days since the last purchase,
-- largest first, whatever the as-of date, so moving the as-of date changes no score. The segment comes from the
-- rfm_segment_map seed, a range map that covers every recency x frequency cell exactly once.
--
-- Incremental: a night scores every buyer again (one new buyer moves the rank of many), and writes only the
-- customers whose values differ from the stored row, compared by a hash of all their values
-- (values_fingerprint): 2.5% of the buyers in the benchmark's one-day night at M, where the table rebuilt
-- with every buyer took 1.06-1.24 s of node time alone against 0.55-0.73 s (docs/performance.md, section AG).
-- A seed or bucket count edited changes the values, so the rows it moves are written too. Customers no longer
-- buyers (merged away, or their only order gone) leave tombstones that the post-hook deletes, found among the
-- buyers the night scores anyway: a post-hook comparing the stored buyers with the customer 360 read it again
-- (docs/performance.md, section AS).
{%- set buckets = var('rfm_bucket_count') | int %}
{#- Each scored value and its score column: recency on the last purchase date, as-of independent. -#}
{%- set dimensions = [
    ('last_order_date', 'recency_score'),
    ('frequency', 'frequency_score'),
    ('monetary', 'monetary_score'),
] %}
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='customer_id',
    post_hook="{{ delete_tombstones('values_fingerprint') }}",
) }}

with

customers as (
    select * from {{ ref('int_customers_assembled') }}
),

segment_map as (
    select * from {{ ref('rfm_segment_map') }}
),

purchasers as (
    select
        customer_id,
        order_count as frequency,
        net_revenue as monetary,
        first_order_date,
        last_order_date,
    from customers
    where order_count > 0
),
{%- for value, score in dimensions %}

{{ score }}s as (
    {{ rfm_value_scores('purchasers', value, score, buckets) }}
),
{%- endfor %}

scored as (
    select
        purchasers.*,
        {%- for value, score in dimensions %}
        {{ score }}s.{{ score }},
        {%- endfor %}
    from purchasers
    {%- for value, score in dimensions %}
    left join {{ score }}s
        on purchasers.{{ value }} is not distinct from {{ score }}s.{{ value }}
    {%- endfor %}
),

segment_cells as (
    -- The map's ranges as one row per (recency score, frequency score) cell, joined on equality: the range
    -- join itself took 0.14 s for 552k buyers at M, as DuckDB compares every buyer with every range.
    -- Overlapping ranges would still give a buyer two rows and a gap none, as the range join did (both are
    -- tested on the seed).
    select
        segment,
        recency_score,
        unnest(range(f_min, f_max + 1)) as frequency_score
    from (select *, unnest(range(r_min, r_max + 1)) as recency_score from segment_map)
),

segmented as (
    select
        scored.customer_id,
        scored.frequency,
        scored.monetary,
        scored.recency_score,
        scored.frequency_score,
        scored.monetary_score,
        'R' || scored.recency_score || 'F' || scored.frequency_score || 'M' || scored.monetary_score as rfm_cell,
        segment_cells.segment as rfm_segment,
        scored.first_order_date,
        scored.last_order_date,
    from scored
    left join segment_cells
        on scored.recency_score = segment_cells.recency_score
        and scored.frequency_score = segment_cells.frequency_score
),

final as (
    -- New buyers and buyers whose values changed; the unchanged keep their stored row and changed_at.
    {{ rows_with_changed_values('segmented', 'customer_id') }}
    -- No longer a buyer: a tombstone (no values_fingerprint) replaces the stored row and the post-hook deletes it.
    {{- union_tombstones_of_stored_keys_not_in('purchasers', 'customer_id') }}
)

select * from final
