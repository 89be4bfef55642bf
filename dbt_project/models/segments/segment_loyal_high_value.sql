-- Loyal high-value customers: last purchase at most loyal_recency_days ago and net spend over the last two
-- years above loyal_min_spend_2y, across every channel.
with

customers as (
    select * from {{ ref('customers') }}
),

final as (
    select
        {{ segment_contact_columns('customers') }}
        customers.last_order_date,
        customers.net_revenue_2y,
        customers.order_count_2y,
        'last purchase ' || customers.days_since_last_order || ' days ago (at most '
            || {{ var('loyal_recency_days') | int }} || '), net spend in 2 years ' || customers.net_revenue_2y
            || ' (over ' || {{ var('loyal_min_spend_2y') }} || ')' as segment_reason,
    from customers
    where customers.has_purchased
        and customers.days_since_last_order <= {{ var('loyal_recency_days') | int }}
        and customers.net_revenue_2y > {{ var('loyal_min_spend_2y') }}
        and {{ is_reachable('customers') }}
)

select * from final
