-- New customers for the welcome series: first purchase in any channel at most new_customer_days ago.
with

customers as (
    select * from {{ ref('customers') }}
),

final as (
    select
        {{ segment_contact_columns('customers') }}
        customers.first_order_date,
        customers.order_count,
        'first purchase on ' || customers.first_order_date || ', ' || ({{ as_of_date() }} - customers.first_order_date)
            || ' days ago (at most ' || {{ var('new_customer_days') | int }} || ')' as segment_reason,
    from customers
    where customers.has_purchased
        and {{ as_of_date() }} - customers.first_order_date <= {{ var('new_customer_days') | int }}
        and {{ is_reachable('customers') }}
)

select * from final
