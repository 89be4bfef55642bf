-- Web tracking events with the customer behind them: by the logged-in shop user when the event carries one,
-- otherwise by the device, which belongs to a person once that person logged in on it (a device shared by
-- too many accounts is blocked in identity resolution and stays anonymous). customer_id is null for
-- anonymous traffic. Page URLs and session ids stay in stg_web__events (join on event_id): no customer-level
-- model reads them, and at 30M events they would be most of what this table writes.
--
-- Incremental: a night resolves the events staged since the table was last built, and re-checks the events
-- already here whose login or device changed customer since then (identities merged, split, blocked or newly
-- linked: identifiers_moved_since_last_build) or left the identity graph, rewriting only those whose person
-- changed. The check reads narrow columns of the stored events; rewriting them all is what a full rebuild
-- would cost.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='event_id',
) }}

{%- set event_columns %}
        event_id,
        device_id,
        shop_user_id,
        sku,
        shop_order_id,
        event_type,
        unit_price,
        quantity,
        occurred_at,
        loaded_at
{%- endset %}

with

staged_events as (
    select * from {{ ref('stg_web__events') }}
    {{ only_new_deliveries('loaded_at') }}
),

identifiers_resolved as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identifiers_resolved') }}
),

identifiers_assessed as (
    select * from {{ ref('int_identifiers_assessed') }}
),

-- identifier_key is identifier_type || ':' || identifier_value (types never contain ':'), so matching type and
-- value is the same match as on the key, without building a key string for every event.
shop_users as (
    select identifier_value, customer_id from identifiers_resolved where identifier_type = 'shop_user'
),

devices as (
    select identifier_value, customer_id from identifiers_resolved where identifier_type = 'web_device'
),

{%- if is_incremental() %}

moved_identifiers as (
    {{ identifiers_moved_since_last_build('identifiers_resolved', 'identifiers_assessed') }}
),

stored_events_to_check as (
    select event_id, device_id, shop_user_id, customer_id, resolved_by
    from {{ this }}
    -- Shop user ids are compared as numbers: casting the few moved ids is cheaper than casting every event's.
    where shop_user_id in (
            select try_cast(identifier_value as bigint) from moved_identifiers where identifier_type = 'shop_user'
        )
        or device_id in (select identifier_value from moved_identifiers where identifier_type = 'web_device')
        -- The identifier that resolved the event left the graph (the last record carrying it was re-sent
        -- without it): it is in no list of moves, as it no longer exists.
        or (resolved_by = 'shop_user' and shop_user_id not in (
            select try_cast(identifier_value as bigint) from shop_users where try_cast(identifier_value as bigint) is not null
        ))
        or (resolved_by = 'web_device' and device_id not in (select identifier_value from devices))
),

stored_events_changed as (
    select stored.event_id
    from stored_events_to_check as stored
    left join shop_users
        on cast(stored.shop_user_id as varchar) = shop_users.identifier_value
    left join devices
        on stored.device_id = devices.identifier_value
    where stored.customer_id is distinct from coalesce(shop_users.customer_id, devices.customer_id)
        or stored.resolved_by is distinct from {{ web_event_resolved_by('shop_users', 'devices') }}
),
{%- endif %}

events as (
    select {{ event_columns }}
    from staged_events
    {%- if is_incremental() %}
    union all
    select {{ event_columns }}
    from {{ this }}
    semi join stored_events_changed using (event_id)
    anti join staged_events using (event_id)
    {%- endif %}
),

final as (
    select
        events.event_id,
        coalesce(shop_users.customer_id, devices.customer_id) as customer_id,
        {{ web_event_resolved_by('shop_users', 'devices') }} as resolved_by,
        events.device_id,
        events.shop_user_id,
        events.sku,
        events.shop_order_id,
        events.event_type,
        events.unit_price,
        events.quantity,
        events.occurred_at,
        cast(events.occurred_at as date) as occurred_date,
        events.loaded_at,
        {{ build_stamp() }} as changed_at
    from events
    left join shop_users
        on cast(events.shop_user_id as varchar) = shop_users.identifier_value
    left join devices
        on events.device_id = devices.identifier_value
)

select * from final
