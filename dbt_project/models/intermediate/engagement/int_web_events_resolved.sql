-- Web tracking events with the customer behind them: by the logged-in shop user when the event carries one,
-- otherwise by the device, which belongs to a person once that person logged in on it (a device shared by
-- too many accounts is blocked in identity resolution and stays anonymous). customer_id is null for
-- anonymous traffic.
with

web_events as (
    select * from {{ ref('stg_web__events') }}
),

identifiers_resolved as (
    select * from {{ ref('int_identifiers_resolved') }}
),

-- identifier_key is identifier_type || ':' || identifier_value (types never contain ':'), so matching type and
-- value is the same match as on the key, without building a key string for every event.
shop_users as (
    select identifier_value, customer_id from identifiers_resolved where identifier_type = 'shop_user'
),

devices as (
    select identifier_value, customer_id from identifiers_resolved where identifier_type = 'web_device'
),

final as (
    select
        web_events.event_id,
        coalesce(shop_users.customer_id, devices.customer_id) as customer_id,
        case
            when shop_users.customer_id is not null then 'shop_user'
            when devices.customer_id is not null then 'web_device'
        end as resolved_by,
        web_events.device_id,
        web_events.shop_user_id,
        web_events.session_id,
        web_events.sku,
        web_events.shop_order_id,
        web_events.event_type,
        web_events.page_url,
        web_events.unit_price,
        web_events.quantity,
        web_events.occurred_at,
        cast(web_events.occurred_at as date) as occurred_date,
    from web_events
    left join shop_users
        on cast(web_events.shop_user_id as varchar) = shop_users.identifier_value
    left join devices
        on web_events.device_id = devices.identifier_value
)

select * from final
