-- Every campaign audience in one table, one row per (segment, customer): the contact fields and per-channel
-- contactability exports need. Destinations (orchestration/exports/destinations.yml) choose which segments
-- they receive and on which channel; the export writer keeps only people contactable on that channel.
-- A new segment view joins the exports by adding it to the list below.
{%- set segments = [
    'segment_rfm',
    'segment_inactive',
    'segment_birthday',
    'segment_loyal_high_value',
    'segment_abandoned_cart',
    'segment_new_customers',
    'segment_win_back',
] %}

with

customers as (
    select * from {{ ref('customers') }}
),

{% for segment in segments %}
{{ segment }} as (
    select * from {{ ref(segment) }}
),
{% endfor %}

memberships as (
    {% for segment in segments %}
    select
        '{{ segment | replace("segment_", "") }}' as segment,
        customer_id,
        segment_reason
    from {{ segment }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        memberships.segment,
        memberships.customer_id,
        memberships.segment_reason,
        customers.first_name,
        customers.last_name,
        customers.email,
        customers.phone,
        customers.birth_date,
        customers.gender,
        customers.is_email_contactable,
        customers.is_sms_contactable,
        customers.is_push_contactable,
        customers.email_contactability,
        customers.sms_contactability,
        customers.push_contactability,
        customers.as_of_date
    from memberships
    inner join customers
        on memberships.customer_id = customers.customer_id
)

select * from final
