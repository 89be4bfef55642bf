-- Abandoned carts for the email reminder: a known person added products to the web cart in the last
-- abandoned_cart_lookback_days days before the as-of date (from local midnight) and completed no order within
-- abandoned_cart_minutes of the add (the same rule a real-time trigger applies; the nightly batch serves it
-- as a daily digest). The person is resolved across devices, so an order placed on another device of theirs
-- counts. Only email-contactable people are included; abandoned_skus lists what to remind them of.
-- has_ordered_since tells whether they completed a web order after their last abandoned add, for campaigns
-- that exit such people.
with

-- Not materialized: read twice (cart adds, completed orders), DuckDB would otherwise copy the events before
-- filtering them; this view runs once per reader (its tests, the export audience): 0.45 -> 0.04 s at M.
web_events as {{ cte_not_materialized() }} (
    select * from {{ ref('int_web_events_resolved') }}
),

customers as (
    select * from {{ ref('customers') }}
),

cart_adds as (
    select
        customer_id,
        event_id,
        sku,
        unit_price,
        quantity,
        occurred_at,
    from web_events
    where event_type = 'add_to_cart'
        and customer_id is not null
        -- Web events are UTC; the lookback starts at local midnight, so the night hours of the business day
        -- (before midnight UTC) are not lost between two nightly runs.
        and occurred_at >= cast({{ as_of_date() }} as timestamp)
            - interval ({{ var('abandoned_cart_lookback_days') | int }}) day
            - interval ({{ var('business_utc_offset_hours') | int }}) hour
        and occurred_at < cast({{ as_of_date() }} as timestamp) + interval 1 day
),

completed_orders as (
    select
        customer_id,
        occurred_at,
    from web_events
    where event_type = 'order_completed'
        and customer_id is not null
),

abandoned_adds as (
    select *
    from cart_adds
    where not exists (
        select 1
        from completed_orders
        where completed_orders.customer_id = cart_adds.customer_id
            and completed_orders.occurred_at >= cart_adds.occurred_at
            and completed_orders.occurred_at <= cart_adds.occurred_at + interval ({{ var('abandoned_cart_minutes') | int }}) minute
    )
),

abandoned_carts as (
    select
        customer_id,
        list(distinct sku order by sku) filter (where sku is not null) as abandoned_skus,
        count(*) as abandoned_add_count,
        sum(coalesce(unit_price, 0) * coalesce(quantity, 1)) as abandoned_value,
        min(occurred_at) as first_abandoned_at,
        max(occurred_at) as last_abandoned_at,
    from abandoned_adds
    group by customer_id
),

orders_since as (
    select
        abandoned_carts.customer_id,
        min(completed_orders.occurred_at) as ordered_since_at,
    from abandoned_carts
    inner join completed_orders
        on abandoned_carts.customer_id = completed_orders.customer_id
        and completed_orders.occurred_at > abandoned_carts.last_abandoned_at
    group by abandoned_carts.customer_id
),

final as (
    select
        {{ segment_contact_columns('customers') }}
        abandoned_carts.abandoned_skus,
        abandoned_carts.abandoned_add_count,
        abandoned_carts.abandoned_value,
        abandoned_carts.last_abandoned_at,
        orders_since.ordered_since_at is not null as has_ordered_since,
        'added ' || len(abandoned_carts.abandoned_skus) || ' product(s) to the cart ('
            || array_to_string(abandoned_carts.abandoned_skus, ', ') || '), last at '
            || strftime(abandoned_carts.last_abandoned_at, '%Y-%m-%d %H:%M') || ' UTC, with no order within '
            || {{ var('abandoned_cart_minutes') | int }} || ' minutes' as segment_reason,
    from abandoned_carts
    inner join customers
        on abandoned_carts.customer_id = customers.customer_id
    left join orders_since
        on abandoned_carts.customer_id = orders_since.customer_id
    where customers.is_email_contactable
)

select * from final
