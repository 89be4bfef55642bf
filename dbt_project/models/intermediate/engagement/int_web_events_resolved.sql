-- The web tracking events of known people, with the customer behind each: by the logged-in shop user when the
-- event carries one, otherwise by the device, which belongs to a person once that person logged in on it (a
-- device shared by too many accounts is blocked in identity resolution and stays anonymous). Anonymous
-- traffic stays in stg_web__events only: every reader wants a person's events, and at M 43% of the events
-- are anonymous, which this table would write a second time for nothing. Page URLs and session ids stay in
-- stg_web__events too (join on event_id).
--
-- Incremental: a night resolves the events staged since the table was last built, and re-checks the events
-- of every login or device whose customer changed since then (identities merged, split, blocked or newly
-- linked: identifiers_moved_since_last_build), read from stg_web__events because an anonymous event becomes
-- a person's when its device is linked, and the events of every login or device that lost a record since
-- (identifiers_that_lost_a_record_since_last_build), among them those that left the identity graph. A
-- re-checked event is rewritten only when its person changed. An event that no longer has a person (tonight's
-- anonymous events, and stored ones whose device was unlinked) is written as a tombstone, a row with no
-- customer_id, which removes any stored version and is deleted after the insert (delete_tombstones). The
-- customer an event leaves (moved to another customer, or left anonymous) is recorded in departed_values
-- (departures_of): the engagement summary summarizes that customer again from it.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at', 'departures_of': 'customer_id'},
    unique_key='event_id',
    post_hook="{{ delete_tombstones('customer_id') }}",
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

identifier_removals as {{ cte_not_materialized() }} (
    -- Read by incremental runs only; outside their branch so that dbt sees the ref when it parses the project.
    select * from {{ ref('int_identifiers_observed_with_removals') }} where is_removed
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
{%- set observations_rebuilt = rebuilt_since_last_build(ref('int_identifiers_observed_with_removals')) %}

moved_identifiers as (
    {{ identifiers_moved_since_last_build('identifiers_resolved', 'identifiers_assessed') }}
    union
    {{ identifiers_that_lost_a_record_since_last_build('identifier_removals') }}
),

-- Every event of a moved login or device, anonymous ones included. Shop user ids are compared as numbers:
-- casting the few moved ids is cheaper than casting every event's. One semi join per identifier type: DuckDB
-- then filters the staged events' id column by the few moved values before reading the other columns, where
-- the two conditions joined by `or` made it read every column of all 30M events at M (docs/performance.md, P).
events_of_moved_users as (
    select {{ event_columns }}
    from {{ ref('stg_web__events') }}
    where shop_user_id in (
        select try_cast(identifier_value as bigint) from moved_identifiers where identifier_type = 'shop_user'
    )
),

events_of_moved_devices as (
    select {{ event_columns }}
    from {{ ref('stg_web__events') }}
    where device_id in (select identifier_value from moved_identifiers where identifier_type = 'web_device')
),

events_of_moved_identifiers as (
    select * from events_of_moved_users
    union all
    select * from events_of_moved_devices
    anti join events_of_moved_users using (event_id)
),

{%- if observations_rebuilt %}

-- The observations were rebuilt in full since this table was last built, so the identifiers that left the
-- graph meanwhile left no marker: the stored events whose identifier is no longer resolved, found on the three
-- columns that tell, then read whole (scanning every column of the 34.6M stored events at 2M persons to keep
-- none cost 0.4-0.7 s more). Once, after such a rebuild.
ids_of_events_whose_identifier_left as (
    select event_id
    from {{ this }}
    where (resolved_by = 'shop_user' and shop_user_id not in (
            select try_cast(identifier_value as bigint) from shop_users where try_cast(identifier_value as bigint) is not null
        ))
        or (resolved_by = 'web_device' and device_id not in (select identifier_value from devices))
),

events_whose_identifier_left as (
    select {{ event_columns }}
    from {{ this }}
    semi join ids_of_events_whose_identifier_left using (event_id)
),
{%- endif %}

events_to_recheck as (
    select * from events_of_moved_identifiers
    {%- if observations_rebuilt %}
    union all
    select * from events_whose_identifier_left
    anti join events_of_moved_identifiers using (event_id)
    {%- endif %}
),
{%- endif %}

events as (
    select {{ event_columns }}, false as is_recheck
    from staged_events
    {%- if is_incremental() %}
    union all
    select {{ event_columns }}, true as is_recheck
    from events_to_recheck
    anti join staged_events using (event_id)
    {%- endif %}
),

resolved as (
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
        {{ build_stamp() }} as changed_at,
        events.is_recheck
    from events
    left join shop_users
        on cast(events.shop_user_id as varchar) = shop_users.identifier_value
    left join devices
        on events.device_id = devices.identifier_value
),

{%- if is_incremental() %}

-- The stored versions of the re-checked events only. Joined to the whole table, DuckDB could build its hash
-- table on the 17M stored events rather than on the few re-checked ones.
stored_rechecked as (
    select event_id, customer_id, resolved_by
    from {{ this }}
    where event_id in (select event_id from resolved where is_recheck)
),
{%- endif %}

final as (
    select resolved.* exclude (is_recheck)
    from resolved
    {%- if is_incremental() %}
    left join stored_rechecked as stored
        on resolved.event_id = stored.event_id
    where not resolved.is_recheck
        or stored.customer_id is distinct from resolved.customer_id
        or stored.resolved_by is distinct from resolved.resolved_by
    {%- else %}
    where resolved.customer_id is not null
    {%- endif %}
)

select * from final
