-- Order lines in the grain of int_orders_unified: shop items for web orders (their ERP mirror's lines are
-- the same goods), ERP lines for phone and store orders, till lines for receipts.
--
-- Incremental: a night writes the lines staged since the last build, and every line of an order that
-- int_orders_unified rebuilt since then (changed_at: its customer, status, type, channel or time may have
-- changed); lines whose order no longer exists (an ERP document that turned out to mirror a web order) are
-- deleted after the insert.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='order_line_id',
    post_hook="{{ delete_rows_no_longer_in('order_id', 'select order_id from ' ~ ref('int_orders_unified')) }}",
) }}

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

orders as {{ cte_not_materialized() }} (
    select * from {{ ref('int_orders_unified') }}
),

unioned as (
    select
        'shop-' || cast(shop_order_id as varchar) as order_id,
        line_number,
        sku,
        cast(quantity as decimal(18, 4)) as quantity,
        unit_price,
        line_amount,
        loaded_at
    from shop_items
    union all
    select
        'erp-' || erp_document_number,
        line_number,
        sku,
        quantity,
        unit_price,
        line_amount,
        loaded_at
    from erp_lines
    union all
    select
        'pos-' || receipt_id,
        line_number,
        sku,
        quantity,
        unit_price,
        line_amount,
        loaded_at
    from pos_lines
),

{%- if is_incremental() %}

lines_to_write as (
    select *
    from unioned
    where loaded_at > {{ loaded_watermark() }}
        or order_id in (select order_id from orders where changed_at > {{ changed_watermark() }})
),
{%- else %}

lines_to_write as (
    select * from unioned
),
{%- endif %}

final as (
    select
        lines_to_write.order_id || '-' || cast(lines_to_write.line_number as varchar) as order_line_id,
        lines_to_write.order_id,
        orders.customer_id,
        lines_to_write.line_number,
        lines_to_write.sku,
        lines_to_write.quantity,
        lines_to_write.unit_price,
        lines_to_write.line_amount,
        orders.order_type,
        orders.order_status,
        orders.sales_channel,
        orders.channel_group,
        orders.ordered_at,
        orders.ordered_date,
        lines_to_write.loaded_at,
        {{ build_stamp() }} as changed_at
    from lines_to_write
    inner join orders
        on lines_to_write.order_id = orders.order_id
)

select * from final
