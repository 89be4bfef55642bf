-- The customer 360 without its as-of columns: one row per customer_id (identity resolution) with the survivor
-- profile, per-channel contactability, purchases over every channel and engagement. The customers mart is this
-- table plus the as-of date (days since the last order), so that a night moving the as-of date does not
-- rewrite every customer.
--
-- Incremental: a night assembles only the customers whose inputs were stamped since its last build (each of the
-- four per-customer inputs stamps the rows it writes, changed_at), and the stored customers whose order summary
-- or engagement summary is gone while their row still holds values from it, looked for among the customers the
-- summaries deleted since (they record them, departed_values; docs/performance.md, section AS); of those it
-- writes the ones whose values differ from the stored row, compared by a hash of all their values
-- (values_fingerprint). Joining the four inputs in full for every customer took 0.62-0.73 s alone at M whatever
-- the night held; now 0.13 s with nothing new, 0.3 s with 5.7% of the customers stamped (docs/performance.md,
-- sections X and AI). changed_at tells when a row's values last changed. Customers merged away (no longer in
-- int_customer_profiles_survived) leave tombstones that the post-hook deletes. They are found among the
-- customers whose profile was deleted since the last build, which int_customer_profiles_survived records
-- (departed_values), instead of comparing every stored customer with the profiles after the insert
-- (docs/performance.md, section AS); that comparison remains the fallback when the record does not reach back.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='customer_id',
    post_hook="{{ delete_tombstones('values_fingerprint') }}",
) }}

{#- The purchase columns, each with the value a customer without an order summary gets. -#}
{%- set purchase_values = [
    ('first_order_date', none),
    ('last_order_date', none),
    ('last_order_sales_channel', none),
    ('purchase_source_systems', none),
    ('order_count', '0'),
    ('online_order_count', '0'),
    ('offline_order_count', '0'),
    ('order_count_2y', '0'),
    ('net_revenue', '0::decimal(18, 2)'),
    ('online_net_revenue', '0::decimal(18, 2)'),
    ('offline_net_revenue', '0::decimal(18, 2)'),
    ('net_revenue_2y', '0::decimal(18, 2)'),
] %}
{#- The engagement columns, likewise. -#}
{%- set engagement_values = [
    ('last_email_open_date', none),
    ('last_email_click_date', none),
    ('recent_web_event_count', '0'),
    ('last_web_visit_at', none),
] %}
{#- On an incremental night, the rows of an input that belong to the customers to assemble. -#}
{%- set of_customers_to_assemble -%}
    {%- if is_incremental() %} semi join customers_to_assemble using (customer_id){% endif -%}
{%- endset %}

with

profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_customer_profiles_survived') }}
),

channels as {{ cte_not_materialized() }} (
    select * from {{ ref('int_customer_channels_assessed') }}
),

order_summaries as {{ cte_not_materialized() }} (
    select * from {{ ref('int_customer_orders_summarized') }}
),

engagement as {{ cte_not_materialized() }} (
    select * from {{ ref('int_customer_engagement_summarized') }}
),
{%- if is_incremental() %}
{%- set assembled_through = changed_watermark() %}
{%- set profiles_deleted = values_departed_since(ref('int_customer_profiles_survived'), since=assembled_through) %}
{#- The customers each summary deleted since (none when its record does not reach back). -#}
{%- set summaries_deleted = {
    'order_summaries': values_departed_since(ref('int_customer_orders_summarized'), since=assembled_through),
    'engagement': values_departed_since(ref('int_customer_engagement_summarized'), since=assembled_through),
} %}
{%- if profiles_deleted is not none %}

customers_merged_away as (
    -- The customers whose profile was deleted since the last build: the only stored customers that can have lost
    -- their profile.
    select departed_value as customer_id from ({{ profiles_deleted }}) as departed
),
{%- endif %}

customers_to_assemble as {{ cte_materialized() }} (
    {%- for input in ['profiles', 'channels', 'order_summaries', 'engagement'] %}
    select customer_id from {{ input }} where changed_at > {{ assembled_through }}
    union
    {%- endfor %}
    -- No order summary any more (no order up to the as-of date), or no engagement, while the stored row holds
    -- values from one: the customer's values fall back to those of a customer without it. Looked for among the
    -- customers the summary deleted since (it records them, departed_values); among every stored customer when
    -- that record does not reach back.
    {%- for input, values in [('order_summaries', purchase_values), ('engagement', engagement_values)] %}
    select customer_id
    from {{ this }} as stored
    {%- if summaries_deleted[input] is not none %}
    semi join ({{ summaries_deleted[input] }}) as deleted
        on stored.customer_id = deleted.departed_value
    {%- endif %}
    anti join {{ input }} using (customer_id)
    where {% for column, default in values -%}
        stored.{{ column }} {{ 'is not null' if default is none else '<> ' ~ default }}
        {%- if not loop.last %} or {% endif %}
    {%- endfor %}
    {{- '\n    union' if not loop.last }}
    {%- endfor %}
),
{%- endif %}

channels_to_assemble as {% if is_incremental() -%}
    {#- A few customers' rows, read three times below: picked once from the whole table. -#}
    {{ cte_materialized() }}
{%- else -%}
    {{ cte_not_materialized() }}
{%- endif %} (
    select * from channels{{ of_customers_to_assemble }}
),

-- Each channel's row of a customer, joined as it is (one per customer and channel, tested unique): pivoting the
-- three channels with an aggregate per column took 1.1 s at M, the three joins 0.8 s.
{%- for channel in ['email', 'sms', 'push'] %}
{{ channel }}_channel as (
    select * from channels_to_assemble where channel = '{{ channel }}'
),
{% endfor %}
order_summaries_to_assemble as (
    select * from order_summaries{{ of_customers_to_assemble }}
),

engagement_to_assemble as (
    select * from engagement{{ of_customers_to_assemble }}
),

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
        {%- for column, default in purchase_values %}
        {{ 'order_summaries.' ~ column if default is none else 'coalesce(order_summaries.' ~ column ~ ', ' ~ default ~ ')' }} as {{ column }},
        {%- endfor %}
        ---------- engagement
        {%- for column, default in engagement_values %}
        {{ 'engagement.' ~ column if default is none else 'coalesce(engagement.' ~ column ~ ', ' ~ default ~ ')' }} as {{ column }},
        {%- endfor %}
    from profiles
    {%- if is_incremental() %}
    semi join customers_to_assemble
        on profiles.customer_id = customers_to_assemble.customer_id
    {%- endif %}
    {%- for channel in ['email', 'sms', 'push'] %}
    left join {{ channel }}_channel
        on profiles.customer_id = {{ channel }}_channel.customer_id
    {%- endfor %}
    left join order_summaries_to_assemble as order_summaries
        on profiles.customer_id = order_summaries.customer_id
    left join engagement_to_assemble as engagement
        on profiles.customer_id = engagement.customer_id
),

final as (
    -- New customers and customers whose values changed; the unchanged keep their stored row and changed_at.
    {{ rows_with_changed_values('assembled', 'customer_id') }}
    -- Merged away: a tombstone (no values_fingerprint) replaces the stored row and the post-hook deletes it.
    {{- union_tombstones_of_stored_keys_not_in(
        'profiles', 'customer_id',
        among='customers_merged_away' if is_incremental() and profiles_deleted is not none else none) }}
)

select * from final
