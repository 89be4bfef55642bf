-- RFM per customer who has purchased, over every channel, as of the as-of date: recency (days since the last
-- purchase), frequency (purchases), monetary (net revenue). Each is scored 1..rfm_bucket_count, higher is
-- better (the most recent buyers score highest on recency), by the tie-safe rfm_score macro: equal values
-- always get equal scores and row order never matters. The segment comes from the rfm_segment_map seed, a
-- range map that covers every recency x frequency cell exactly once.
{%- set buckets = var('rfm_bucket_count') | int %}
with

customers as (
    select * from {{ ref('customers') }}
),

segment_map as (
    select * from {{ ref('rfm_segment_map') }}
),

purchasers as (
    select
        customer_id,
        days_since_last_order as recency_days,
        order_count as frequency,
        net_revenue as monetary,
        first_order_date,
        last_order_date,
    from customers
    where order_count > 0
),

scored as (
    select
        *,
        {{ rfm_score('recency_days', buckets, higher_is_better=false) }} as recency_score,
        {{ rfm_score('frequency', buckets) }} as frequency_score,
        {{ rfm_score('monetary', buckets) }} as monetary_score,
    from purchasers
),

final as (
    select
        scored.customer_id,
        scored.recency_days,
        scored.frequency,
        scored.monetary,
        scored.recency_score,
        scored.frequency_score,
        scored.monetary_score,
        'R' || scored.recency_score || 'F' || scored.frequency_score || 'M' || scored.monetary_score as rfm_cell,
        segment_map.segment as rfm_segment,
        scored.first_order_date,
        scored.last_order_date,
        {{ as_of_date() }} as as_of_date,
    from scored
    left join segment_map
        on scored.recency_score between segment_map.r_min and segment_map.r_max
        and scored.frequency_score between segment_map.f_min and segment_map.f_max
)

select * from final
