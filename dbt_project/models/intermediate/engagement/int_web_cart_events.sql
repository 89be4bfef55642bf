-- The web events the abandoned-cart segment reads: cart adds and completed orders, with the customer behind
-- them (int_web_events_resolved). A fifth of the events: the segment view runs once for every reader (its
-- tests, export_audience), and each run over all events scanned 30M rows at 1M persons.
--
-- Incremental: a night copies the events int_web_events_resolved rewrote since this table was last built
-- (tonight's, and those whose customer changed). An event re-delivered as another type leaves: a stored row
-- whose event is no longer a cart add or a completed order gets a tombstone, and the post-hook deletes it.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='event_id',
    post_hook="{{ delete_tombstones('event_type') }}",
) }}

{%- set cart_event_types = "('add_to_cart', 'order_completed')" %}

with

web_events as (
    select * from {{ ref('int_web_events_resolved') }}
    {%- if is_incremental() %}
    where changed_at > {{ changed_watermark() }}
    {%- endif %}
),

cart_events as (
    select
        event_id,
        customer_id,
        event_type,
        sku,
        unit_price,
        quantity,
        occurred_at,
        {{ build_stamp() }} as changed_at
    from web_events
    where event_type in {{ cart_event_types }}
),

{%- if is_incremental() %}

events_no_longer_cart_events as (
    select
        event_id,
        null::varchar as customer_id,
        null::varchar as event_type,
        null::varchar as sku,
        null::decimal(18, 4) as unit_price,
        null::integer as quantity,
        null::timestamp as occurred_at,
        {{ build_stamp() }} as changed_at
    from web_events
    semi join {{ this }} using (event_id)
    where event_type not in {{ cart_event_types }} or event_type is null
),
{%- endif %}

final as (
    select * from cart_events
    {%- if is_incremental() %}
    union all by name
    select * from events_no_longer_cart_events
    {%- endif %}
)

select * from final
