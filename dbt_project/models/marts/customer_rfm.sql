-- RFM per customer who has purchased, over every channel, as of the as-of date: recency (days since the last
-- purchase), frequency (purchases), monetary (net revenue), each scored 1..rfm_bucket_count (higher is better),
-- the cell and the segment.
--
-- A view: the scores are stored in int_customer_rfm_scored, which a night rewrites only for the buyers whose
-- values changed; recency_days and as_of_date, which move with the as-of date for every buyer, are added here,
-- when the view is read (docs/performance.md, section AG). The recency score does not depend on the as-of date:
-- it ranks the last purchase dates.
{{ config(materialized='view') }}

with

scored as (
    select * from {{ ref('int_customer_rfm_scored') }}
),

as_of as (
    select as_of_date from {{ ref('int_as_of_date') }}
),

final as (
    select
        scored.customer_id,
        as_of.as_of_date - scored.last_order_date as recency_days,
        scored.frequency,
        scored.monetary,
        scored.recency_score,
        scored.frequency_score,
        scored.monetary_score,
        scored.rfm_cell,
        scored.rfm_segment,
        scored.first_order_date,
        scored.last_order_date,
        as_of.as_of_date,
    from scored
    cross join as_of
)

select * from final
