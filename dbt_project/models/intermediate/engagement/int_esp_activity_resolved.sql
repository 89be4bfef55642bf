-- Messaging-platform activity with the customer behind the address it went to: the email for the email
-- channel, the phone for sms and push. customer_id is null when the address is unknown to the warehouse or
-- does not link (a placeholder, a shared address); suppression still applies to the address itself.
with

esp_activity as (
    select * from {{ ref('stg_esp__activity') }}
),

identifiers_resolved as (
    select * from {{ ref('int_identifiers_resolved') }}
),

addressed as (
    select
        *,
        case when channel = 'email' then email else phone end as address,
        case when channel = 'email' then 'email' else 'phone' end as address_type,
    from esp_activity
),

final as (
    select
        addressed.message_id,
        addressed.event_type,
        identifiers_resolved.customer_id,
        addressed.channel,
        addressed.address_type,
        addressed.address,
        addressed.campaign,
        addressed.is_suppression_event,
        addressed.occurred_at,
        cast(addressed.occurred_at as date) as occurred_date,
    from addressed
    -- identifier_key is identifier_type || ':' || identifier_value (types never contain ':'): the same match.
    left join identifiers_resolved
        on addressed.address_type = identifiers_resolved.identifier_type
        and addressed.address = identifiers_resolved.identifier_value
)

select * from final
