{{ config(materialized='incremental', unique_key=['shop_order_id', 'line_number']) }}

with

source as {{ cte_not_materialized() }} (
    select * from {{ source('shop', 'order_items') }}
    {{ only_new_deliveries() }}
),

renamed as (
    select
        ---------- ids
        order_id as shop_order_id,
        line_no as line_number,
        trim(product_id) as sku,
        ---------- strings
        nullif(trim(product_name), '') as product_name,
        ---------- numerics
        quantity,
        price as unit_price,
        amount as line_amount,
        ---------- lineage
        {{ lineage_columns() }}
    from source
),

deduplicated as (
    {{ deduplicate_incrementally('renamed', ['shop_order_id', 'line_number'], latest_delivery_first()) }}
)

select * from deduplicated
