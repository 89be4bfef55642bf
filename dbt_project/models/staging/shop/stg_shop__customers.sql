-- Incremental: a night stages again only the keys delivered since, or whose stored row came from a delivery
-- a re-sent dump replaced, over all their raw rows (only_keys_to_stage_again).
{{ config(
    materialized='incremental',
    unique_key='shop_user_id',
    post_hook="{{ delete_rows_of_replaced_deliveries(source('shop', 'customers')) }}",
) }}

with

source as {{ cte_not_materialized() }} (
    select * from {{ source('shop', 'customers') }}
    {{- only_keys_to_stage_again(source('shop', 'customers'), 'user_id', 'shop_user_id') }}
),

renamed as (
    select
        ---------- ids
        user_id as shop_user_id,
        ---------- strings
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        email as email_as_delivered,
        phone as phone_as_delivered,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        nullif(trim(city), '') as city,
        ---------- timestamps
        registered_at,
        updated_at,
        ---------- lineage
        {{ lineage_columns() }}
    from source
),

deduplicated as (
    {{ deduplicate('renamed', 'shop_user_id', 'updated_at desc, ' ~ latest_delivery_first()) }}
),

final as (
    select
        *,
        {{ is_valid_email('email') }} as is_email_valid
    from deduplicated
)

select * from final
