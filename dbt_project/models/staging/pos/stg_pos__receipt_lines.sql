{{ config(materialized='incremental', unique_key=['receipt_id', 'line_number']) }}

with

source as {{ cte_not_materialized() }} (
    select * from {{ source('pos', 'receipt_lines') }}
    {{ only_new_deliveries() }}
),

renamed as (
    select
        ---------- ids
        trim(store_code) || '-' || cast(year(sold_at) as varchar) || '-' || cast(receipt_no as varchar) as receipt_id,
        line_no as line_number,
        trim(sku) as sku,
        ---------- numerics
        quantity,
        price as unit_price,
        amount as line_amount,
        ---------- timestamps
        sold_at,
        ---------- lineage
        {{ lineage_columns() }}
    from source
),

deduplicated as (
    {{ deduplicate_incrementally('renamed', ['receipt_id', 'line_number'], latest_delivery_first()) }}
)

select * from deduplicated
