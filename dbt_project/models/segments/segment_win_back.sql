-- Win-back: lapsed customers worth winning back. Lapsed: last purchase in any channel more than
-- win_back_days ago. Worth it: at least win_back_min_orders purchases in their whole history, or net spend
-- in the two years before the as-of date above win_back_min_spend_2y. One-off buyers who spent little are
-- left to segment_inactive.
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
        customers.net_revenue_2y,
        'lapsed: last purchase ' || customers.days_since_last_order || ' days ago (more than '
            || {{ var('win_back_days') | int }} || '); previously good: ' || customers.order_count || ' purchases'
            || case when customers.order_count >= {{ var('win_back_min_orders') | int }} then ' (at least '
                || {{ var('win_back_min_orders') | int }} || ')' else '' end
            || ', net spend in 2 years ' || customers.net_revenue_2y
            || case when customers.net_revenue_2y > {{ var('win_back_min_spend_2y') }} then ' (over '
                || {{ var('win_back_min_spend_2y') }} || ')' else '' end as segment_reason,
    from customers
    where customers.has_purchased
        and customers.days_since_last_order > {{ var('win_back_days') | int }}
        and (
            customers.order_count >= {{ var('win_back_min_orders') | int }}
            or customers.net_revenue_2y > {{ var('win_back_min_spend_2y') }}
        )
        and {{ is_reachable('customers') }}
)

select * from final
