-- The customer 360 without its as-of columns: one row per customer_id (identity resolution) with the survivor
-- profile, per-channel contactability, purchases over every channel and engagement. The customers mart is this
-- table plus the as-of date (days since the last order), so that a night moving the as-of date does not
-- rewrite every customer.
--
-- Incremental: a night joins the four per-customer inputs in full and writes only the customers whose values
-- differ from the stored row, compared by a hash of all their values (values_fingerprint): 1.4-1.6 s alone at M,
-- where rewriting every customer took 2.4-2.5 s (docs/performance.md, section X). changed_at tells when a row's
-- values last changed. Customers merged away (no longer in int_customer_profiles_survived) are deleted after
-- the insert.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='customer_id',
    post_hook="{{ delete_rows_no_longer_in('customer_id', 'select customer_id from ' ~ ref('int_customer_profiles_survived')) }}",
) }}

with

profiles as (
    select * from {{ ref('int_customer_profiles_survived') }}
),

channels as (
    select * from {{ ref('int_customer_channels_assessed') }}
),

order_summaries as (
    select * from {{ ref('int_customer_orders_summarized') }}
),

engagement as (
    select * from {{ ref('int_customer_engagement_summarized') }}
),

-- Each channel's row of a customer, joined as it is (one per customer and channel, tested unique): pivoting the
-- three channels with an aggregate per column took 1.1 s at M, the three joins 0.8 s.
{%- for channel in ['email', 'sms', 'push'] %}
{{ channel }}_channel as (
    select * from channels where channel = '{{ channel }}'
),
{% endfor %}
assembled as (
    select
        ---------- ids
        profiles.customer_id,
        ---------- profile (survivorship: int_customer_profiles_survived)
        profiles.first_name,
        profiles.last_name,
        profiles.email,
        profiles.phone,
        profiles.birth_date,
        profiles.gender,
        ---------- contactability
        {%- for channel in ['email', 'sms', 'push'] %}
        coalesce({{ channel }}_channel.is_contactable, false) as is_{{ channel }}_contactable,
        {%- endfor %}
        {%- for channel in ['email', 'sms', 'push'] %}
        coalesce({{ channel }}_channel.has_consent, false) as has_{{ channel }}_consent,
        {{ channel }}_channel.consent_at as {{ channel }}_consent_at,
        coalesce({{ channel }}_channel.contactability_status, 'no_consent') as {{ channel }}_contactability,
        {{ channel }}_channel.suppressed_by as {{ channel }}_suppressed_by,
        {{ channel }}_channel.suppressed_at as {{ channel }}_suppressed_at,
        {%- endfor %}
        ---------- purchases, every channel
        coalesce(order_summaries.order_count, 0) > 0 as has_purchased,
        order_summaries.first_order_date,
        order_summaries.last_order_date,
        order_summaries.last_order_sales_channel,
        order_summaries.purchase_source_systems,
        coalesce(order_summaries.order_count, 0) as order_count,
        coalesce(order_summaries.online_order_count, 0) as online_order_count,
        coalesce(order_summaries.offline_order_count, 0) as offline_order_count,
        coalesce(order_summaries.order_count_2y, 0) as order_count_2y,
        coalesce(order_summaries.net_revenue, 0)::decimal(18, 2) as net_revenue,
        coalesce(order_summaries.online_net_revenue, 0)::decimal(18, 2) as online_net_revenue,
        coalesce(order_summaries.offline_net_revenue, 0)::decimal(18, 2) as offline_net_revenue,
        coalesce(order_summaries.net_revenue_2y, 0)::decimal(18, 2) as net_revenue_2y,
        ---------- engagement
        engagement.last_email_open_date,
        engagement.last_email_click_date,
        coalesce(engagement.recent_web_event_count, 0) as recent_web_event_count,
        engagement.last_web_visit_at,
    from profiles
    {%- for channel in ['email', 'sms', 'push'] %}
    left join {{ channel }}_channel
        on profiles.customer_id = {{ channel }}_channel.customer_id
    {%- endfor %}
    left join order_summaries
        on profiles.customer_id = order_summaries.customer_id
    left join engagement
        on profiles.customer_id = engagement.customer_id
),

final as (
    -- New customers and customers whose values changed; the unchanged keep their stored row and changed_at.
    {{ rows_with_changed_values('assembled', 'customer_id') }}
)

select * from final
