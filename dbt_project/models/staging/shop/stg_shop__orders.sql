{{ config(materialized='incremental', unique_key='shop_order_id') }}

with

source as {{ cte_not_materialized() }} (
    select * from {{ source('shop', 'orders') }}
    {{ only_new_deliveries() }}
),

renamed as (
    select
        ---------- ids
        order_id as shop_order_id,
        order_number as shop_order_number,
        user_id as shop_user_id,
        ---------- strings
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        lower(trim(status)) as order_status,
        upper(trim(currency)) as currency,
        nullif(trim(delivery_type), '') as delivery_type,
        nullif(trim(payment_method), '') as payment_method,
        ---------- numerics
        total_amount,
        ---------- booleans
        lower(trim(status)) = 'cancelled' as is_cancelled,
        lower(trim(status)) = 'returned' as is_returned,
        ---------- timestamps
        created_at as ordered_at,
        updated_at,
        ---------- lineage
        {{ lineage_columns() }}
    from source
),

-- Derived before deduplication, so the rows delivered tonight have the table's columns exactly.
derived as (
    select
        *,
        cast(ordered_at as date) as ordered_date,
        {{ is_valid_email('email') }} as is_email_valid
    from renamed
),

deduplicated as (
    -- A status change re-delivers the order: the latest update is the order's current state.
    {{ deduplicate_incrementally('derived', 'shop_order_id', 'updated_at desc, ' ~ latest_delivery_first()) }}
)

select * from deduplicated
