-- Order lines in the grain of orders: shop items for web orders, ERP lines for phone and store orders, till
-- lines for receipts. Every SKU sold is in products, including SKUs neither catalog knows (is_unknown_sku).
-- A view: the rows are int_order_lines_unified's, renamed into the mart's column order; copying millions of rows into
-- a second table every night would buy nothing but disk and minutes (docs/performance.md).
{{ config(materialized='view') }}

with

order_lines_unified as (
    select * from {{ ref('int_order_lines_unified') }}
),

final as (
    select
        ---------- ids
        order_line_id,
        order_id,
        customer_id,
        line_number,
        sku,
        ---------- strings
        order_type,
        order_status,
        sales_channel,
        channel_group,
        ---------- numerics
        quantity,
        unit_price,
        line_amount,
        ---------- timestamps
        ordered_at,
        ---------- dates
        ordered_date,
    from order_lines_unified
)

select * from final
