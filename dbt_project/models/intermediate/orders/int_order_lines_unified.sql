-- Order lines in the grain of int_orders_unified: shop items for web orders (their ERP mirror's lines are
-- the same goods), ERP lines for phone and store orders, till lines for receipts.
with

shop_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

erp_lines as (
    select * from {{ ref('stg_erp__sales_lines') }}
),

pos_lines as (
    select * from {{ ref('stg_pos__receipt_lines') }}
),

orders as (
    select * from {{ ref('int_orders_unified') }}
),

unioned as (
    select
        'shop-' || cast(shop_order_id as varchar) as order_id,
        line_number,
        sku,
        cast(quantity as decimal(18, 4)) as quantity,
        unit_price,
        line_amount
    from shop_items
    union all
    select
        'erp-' || erp_document_number,
        line_number,
        sku,
        quantity,
        unit_price,
        line_amount
    from erp_lines
    union all
    select
        'pos-' || receipt_id,
        line_number,
        sku,
        quantity,
        unit_price,
        line_amount
    from pos_lines
),

final as (
    select
        unioned.order_id || '-' || cast(unioned.line_number as varchar) as order_line_id,
        unioned.order_id,
        orders.customer_id,
        unioned.line_number,
        unioned.sku,
        unioned.quantity,
        unioned.unit_price,
        unioned.line_amount,
        orders.order_type,
        orders.order_status,
        orders.sales_channel,
        orders.channel_group,
        orders.ordered_at,
        orders.ordered_date
    from unioned
    inner join orders
        on unioned.order_id = orders.order_id
)

select * from final
