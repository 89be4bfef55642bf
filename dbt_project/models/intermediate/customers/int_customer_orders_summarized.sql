-- Purchase aggregates per customer over every channel (shop, ERP phone and store orders, tills), up to and
-- including the as-of date. A purchase is a completed sale (int_orders_unified.is_purchase); net revenue
-- also subtracts returns, and cancelled or returned orders count nothing. online = web and phone orders,
-- offline = store orders and tills (int_orders_unified.channel_group).
with

orders as (
    select * from {{ ref('int_orders_unified') }}
),

as_of_orders as (
    select *
    from orders
    where customer_id is not null
        and ordered_date <= {{ as_of_date() }}
),

final as (
    select
        customer_id,
        ---------- dates
        min(ordered_date) filter (where is_purchase) as first_order_date,
        max(ordered_date) filter (where is_purchase) as last_order_date,
        ---------- counts
        count(*) filter (where is_purchase) as order_count,
        count(*) filter (where is_purchase and channel_group = 'online') as online_order_count,
        count(*) filter (where is_purchase and channel_group = 'offline') as offline_order_count,
        count(*) filter (where is_purchase and ordered_date >= {{ as_of_date() }} - interval 2 year) as order_count_2y,
        ---------- revenue (money: two decimals)
        cast(coalesce(sum(net_amount), 0) as decimal(18, 2)) as net_revenue,
        cast(coalesce(sum(net_amount) filter (where channel_group = 'online'), 0) as decimal(18, 2)) as online_net_revenue,
        cast(coalesce(sum(net_amount) filter (where channel_group = 'offline'), 0) as decimal(18, 2)) as offline_net_revenue,
        cast(
            coalesce(sum(net_amount) filter (where ordered_date >= {{ as_of_date() }} - interval 2 year), 0)
            as decimal(18, 2)
        ) as net_revenue_2y,
        ---------- where they buy
        list(distinct source_system order by source_system) filter (where is_purchase) as purchase_source_systems,
        arg_max(sales_channel, strftime(ordered_at, '%Y-%m-%d %H:%M:%S') || order_id) filter (where is_purchase) as last_order_sales_channel,
    from as_of_orders
    group by customer_id
)

select * from final
