{{ config(materialized='incremental', unique_key='event_id') }}

with

source as {{ cte_not_materialized() }} (
    select * from {{ source('web', 'events') }}
    {{ only_new_deliveries() }}
),

renamed as (
    select
        ---------- ids
        event_id,
        device_id,
        user_id as shop_user_id,
        session_id,
        nullif(trim(product_id), '') as sku,
        order_id as shop_order_id,
        ---------- strings
        lower(trim(event_type)) as event_type,
        page_url,
        ---------- numerics
        price as unit_price,
        quantity,
        ---------- timestamps
        occurred_at,
        ---------- lineage
        {{ lineage_columns() }}
    from source
),

deduplicated as (
    {{ deduplicate_incrementally('renamed', 'event_id', latest_delivery_first()) }}
)

select * from deduplicated
