-- A customer in segment_inactive must have no completed purchase in ANY channel (shop, ERP phone and store
-- orders, tills) within inactive_days of the as-of date. Rows returned are customers who would get a
-- win-back discount they do not need, with the order that proves it.
with

segment_inactive as (
    select * from {{ ref('segment_inactive') }}
),

orders as (
    select * from {{ ref('orders') }}
)

select
    segment_inactive.customer_id,
    orders.order_id,
    orders.source_system,
    orders.sales_channel,
    orders.ordered_date,
from segment_inactive
inner join orders
    on segment_inactive.customer_id = orders.customer_id
where orders.is_purchase
    and orders.ordered_date <= {{ as_of_date() }}
    and orders.ordered_date >= {{ as_of_date() }} - {{ var('inactive_days') | int }}
