-- Engagement per customer up to the as-of date: the latest email open and click (any of the customer's
-- addresses) and web activity (events by the customer's logged-in account or devices).
--
-- Incremental: a night summarizes again only the customers whose engagement may have changed, found from change
-- lists: the customers of the messages and events rebuilt since the last build (new, or moved to them), the
-- customers messages and events left since (moved away, or left anonymous: the record of departed values,
-- macros/departed_values.sql), and the customers of the messages and events the as-of date let in or out, or
-- moved across the start of the engagement window, since the as-of date of the last build (recorded by the
-- post-hook record_as_of_date with the window's length, macros/as_of_date.sql). Of those it writes only the
-- customers whose values differ from the stored row, compared by a hash of all their values
-- (values_fingerprint), so changed_at tells int_customers_assembled which customers' engagement changed.
-- A customer left without engagement (merged away, or the as-of date moved back) leaves a tombstone that the
-- post-hook deletes.
-- When a record does not reach back to the last build (the first night after an upgrade, a full rebuild of the
-- messages or events, a month without a build) or engagement_window_days changed, the night summarizes every
-- customer again and writes those whose values differ. That read every message and event every night (0.6 s
-- at M); the change lists read a few narrow columns (docs/performance.md, section AR).
{{ config(
    materialized='incremental',
    meta={
        'last_build_column': 'changed_at',
        'as_of_settings': {'engagement_window_days': var('engagement_window_days') | int},
        'departures_of': 'customer_id',
    },
    unique_key='customer_id',
    post_hook=["{{ delete_tombstones('values_fingerprint') }}", "{{ record_as_of_date() }}"],
) }}

{%- set window_start = as_of_date() ~ ' - ' ~ (var('engagement_window_days') | int) %}
{%- set by_change_lists = false %}

with

esp_activity as {{ cte_not_materialized() }} (
    select * from {{ ref('int_esp_activity_resolved') }}
),

web_events as {{ cte_not_materialized() }} (
    select * from {{ ref('int_web_events_resolved') }}
),

email_activity as {{ cte_not_materialized() }} (
    select *
    from esp_activity
    where customer_id is not null
        and channel = 'email'
),

{%- if is_incremental() %}
{%- set last_build = last_build_as_of() %}
{%- set departed_from_messages = values_departed_since(ref('int_esp_activity_resolved'), last_build.built_at)
    if last_build else none %}
{%- set departed_from_events = values_departed_since(ref('int_web_events_resolved'), last_build.built_at)
    if last_build else none %}
{%- set by_change_lists = departed_from_messages is not none and departed_from_events is not none %}
{%- endif %}
{%- if by_change_lists %}
{%- set last_window_start = last_build.as_of_date ~ ' - ' ~ (var('engagement_window_days') | int) %}

customers_to_summarize as (
    -- Email activity and web events rebuilt since the last build (which read those stamped up to it): new, or
    -- moved to their customer. Stored web events always have one.
    select customer_id
    from email_activity
    where changed_at > {{ last_build.built_at }}
    union
    select customer_id
    from web_events
    where changed_at > {{ last_build.built_at }}
    union
    -- The customers messages and events left since: moved to another customer, or left anonymous.
    select departed_value from ({{ departed_from_messages }}) as departed
    union
    select departed_value from ({{ departed_from_events }}) as departed
    union
    -- Email activity and web events the as-of date let in or out, or moved across the window's start.
    select customer_id
    from email_activity
    where (occurred_date <= {{ as_of_date() }}) <> (occurred_date <= {{ last_build.as_of_date }})
    union
    select customer_id
    from web_events
    where (occurred_date <= {{ as_of_date() }}) <> (occurred_date <= {{ last_build.as_of_date }})
        or (occurred_date >= {{ window_start }}) <> (occurred_date >= {{ last_window_start }})
),

email_activity_to_summarize as (
    select * from email_activity semi join customers_to_summarize using (customer_id)
),

web_events_to_summarize as (
    select * from web_events semi join customers_to_summarize using (customer_id)
),
{%- else %}

email_activity_to_summarize as (
    select * from email_activity
),

web_events_to_summarize as (
    select * from web_events
),
{%- endif %}

email_engagement as (
    select
        customer_id,
        max(occurred_date) filter (where event_type = 'open') as last_email_open_date,
        max(occurred_date) filter (where event_type = 'click') as last_email_click_date,
    from email_activity_to_summarize
    where occurred_date <= {{ as_of_date() }}
    group by customer_id
),

web_engagement as (
    select
        customer_id,
        count(*) filter (where occurred_date >= {{ window_start }}) as recent_web_event_count,
        max(occurred_at) as last_web_visit_at,
    from web_events_to_summarize
    where customer_id is not null
        and occurred_date <= {{ as_of_date() }}
    group by customer_id
),

summarized as (
    select
        coalesce(email_engagement.customer_id, web_engagement.customer_id) as customer_id,
        email_engagement.last_email_open_date,
        email_engagement.last_email_click_date,
        coalesce(web_engagement.recent_web_event_count, 0) as recent_web_event_count,
        web_engagement.last_web_visit_at,
    from email_engagement
    full outer join web_engagement
        on email_engagement.customer_id = web_engagement.customer_id
),

final as (
    -- New customers and customers whose values changed; the unchanged keep their stored row and changed_at.
    {{ rows_with_changed_values('summarized', 'customer_id') }}
    -- No engagement up to the as-of date any more: a tombstone (no fingerprint) replaces the stored summary.
    {{- union_tombstones_of_stored_keys_not_in(
        'summarized', 'customer_id', among='customers_to_summarize' if by_change_lists else none) }}
)

select * from final
