with

source as {{ cte_not_materialized() }} (
    select * from {{ source('shop', 'customers') }}
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
