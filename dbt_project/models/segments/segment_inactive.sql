-- Customers who bought before but not in the last inactive_days days in ANY channel: shop, ERP phone and
-- store orders, and tills all count, so a customer who buys by phone is never called inactive because the
-- web shop has not seen them. People who never purchased are prospects, not inactive, and are not here.
with

customers as (
    select * from {{ ref('customers') }}
),

final as (
    select
        {{ segment_contact_columns('customers') }}
        customers.last_order_date,
        customers.days_since_last_order,
        customers.order_count,
        'no purchase in any channel for ' || customers.days_since_last_order || ' days (more than '
            || {{ var('inactive_days') | int }} || '); last on ' || customers.last_order_date
            || ' via ' || customers.last_order_sales_channel as segment_reason,
    from customers
    where customers.has_purchased
        and customers.days_since_last_order > {{ var('inactive_days') | int }}
        and {{ is_reachable('customers') }}
)

select * from final
