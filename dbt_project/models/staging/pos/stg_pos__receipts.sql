-- Till receipts. receipt_no repeats across stores and restarts every January, so the receipt's key is
-- store + year + number: on its own the number would glue strangers together.
{{ config(materialized='incremental', unique_key='receipt_id') }}

with

source as {{ cte_not_materialized() }} (
    select * from {{ source('pos', 'receipts') }}
    {{ only_new_deliveries() }}
),

renamed as (
    select
        ---------- ids
        trim(store_code) || '-' || cast(year(sold_at) as varchar) || '-' || cast(receipt_no as varchar) as receipt_id,
        trim(store_code) as store_code,
        till_no as till_number,
        receipt_no as receipt_number,
        nullif(trim(card_no), '') as loyalty_card_number,
        ---------- strings
        lower(trim(operation)) as operation,
        nullif(lower(trim(payment_type)), '') as payment_type,
        ---------- numerics
        total_amount,
        ---------- timestamps
        sold_at,
        ---------- dates
        cast(sold_at as date) as sold_date,
        ---------- lineage
        {{ lineage_columns() }}
    from source
),

deduplicated as (
    {{ deduplicate_incrementally('renamed', 'receipt_id', latest_delivery_first()) }}
)

select * from deduplicated
