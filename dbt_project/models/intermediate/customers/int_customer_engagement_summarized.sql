-- Engagement per customer up to the as-of date: the latest email open and click (any of the customer's
-- addresses) and web activity (events by the customer's logged-in account or devices).
--
-- Incremental: a night summarizes every customer again (two aggregates over the resolved messages and events,
-- a fraction of a second at M) and writes only the customers whose values differ from the stored row, compared
-- by a hash of all their values (values_fingerprint), so changed_at tells int_customers_assembled which
-- customers' engagement changed. Rewriting every summary took longer than the aggregates (docs/performance.md,
-- section AI). A customer left without engagement (merged away, or the as-of date moved back) leaves a
-- tombstone that the post-hook deletes.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='customer_id',
    post_hook="{{ delete_tombstones('values_fingerprint') }}",
) }}

with

esp_activity as (
    select * from {{ ref('int_esp_activity_resolved') }}
),

web_events as (
    select * from {{ ref('int_web_events_resolved') }}
),

email_engagement as (
    select
        customer_id,
        max(occurred_date) filter (where event_type = 'open') as last_email_open_date,
        max(occurred_date) filter (where event_type = 'click') as last_email_click_date,
    from esp_activity
    where customer_id is not null
        and channel = 'email'
        and occurred_date <= {{ as_of_date() }}
    group by customer_id
),

web_engagement as (
    select
        customer_id,
        count(*) filter (
            where occurred_date >= {{ as_of_date() }} - {{ var('engagement_window_days') | int }}
        ) as recent_web_event_count,
        max(occurred_at) as last_web_visit_at,
    from web_events
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
    {{- union_tombstones_of_stored_keys_not_in('summarized', 'customer_id') }}
)

select * from final
