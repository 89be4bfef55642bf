-- The customer 360: one row per customer_id (identity resolution) with the survivor profile, per-channel
-- contactability, purchases over every channel and engagement, all as of the as-of date. Exports and
-- segments read contact data from here only.
--
-- A view: the customers' values are stored in int_customers_assembled, which a night rewrites only for the
-- customers whose values changed; the two columns that move with the as-of date for every customer are added
-- here, when the view is read (docs/performance.md, section X).
{{ config(materialized='view') }}

with

assembled as (
    select * from {{ ref('int_customers_assembled') }}
),

as_of as (
    select as_of_date from {{ ref('int_as_of_date') }}
),

final as (
    select
        assembled.customer_id,
        assembled.first_name,
        assembled.last_name,
        assembled.email,
        assembled.phone,
        assembled.birth_date,
        assembled.gender,
        assembled.is_email_contactable,
        assembled.is_sms_contactable,
        assembled.is_push_contactable,
        assembled.has_email_consent,
        assembled.email_consent_at,
        assembled.email_contactability,
        assembled.email_suppressed_by,
        assembled.email_suppressed_at,
        assembled.has_sms_consent,
        assembled.sms_consent_at,
        assembled.sms_contactability,
        assembled.sms_suppressed_by,
        assembled.sms_suppressed_at,
        assembled.has_push_consent,
        assembled.push_consent_at,
        assembled.push_contactability,
        assembled.push_suppressed_by,
        assembled.push_suppressed_at,
        assembled.has_purchased,
        assembled.first_order_date,
        assembled.last_order_date,
        as_of.as_of_date - assembled.last_order_date as days_since_last_order,
        assembled.last_order_sales_channel,
        assembled.purchase_source_systems,
        assembled.order_count,
        assembled.online_order_count,
        assembled.offline_order_count,
        assembled.order_count_2y,
        assembled.net_revenue,
        assembled.online_net_revenue,
        assembled.offline_net_revenue,
        assembled.net_revenue_2y,
        assembled.last_email_open_date,
        assembled.last_email_click_date,
        assembled.recent_web_event_count,
        assembled.last_web_visit_at,
        as_of.as_of_date,
    from assembled
    cross join as_of
)

select * from final
