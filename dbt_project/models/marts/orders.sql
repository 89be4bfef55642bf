-- Every order from the shop, the ERP (phone and store orders) and the tills, one row per real order: web
-- orders once (the shop's row; its ERP mirror is attached, not counted again). customer_id is null for
-- anonymous buyers (no linking identifier), never guessed.
-- A view: the rows are int_orders_unified's, renamed into the mart's column order; copying millions of rows into
-- a second table every night would buy nothing but disk and minutes (docs/performance.md).
{{ config(materialized='view') }}

with

orders_unified as (
    select * from {{ ref('int_orders_unified') }}
),

final as (
    select
        ---------- ids
        order_id,
        customer_id,
        source_system,
        source_order_key,
        mirrored_erp_document_number,
        ---------- strings
        sales_channel,
        channel_group,
        store_code,
        order_type,
        order_status,
        currency,
        ---------- numerics
        order_amount,
        net_amount,
        ---------- booleans
        is_purchase,
        customer_id is null as is_anonymous,
        ---------- timestamps
        ordered_at,
        ---------- dates
        ordered_date,
    from orders_unified
)

select * from final
