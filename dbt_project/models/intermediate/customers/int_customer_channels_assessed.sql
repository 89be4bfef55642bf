-- Whether each customer may be contacted on each channel (email, sms, push), one row per customer and
-- channel, with the reason when not.
--
-- Consent comes from the loyalty program only: for each channel, the customer's loyalty record with the
-- latest consent timestamp on that channel decides (then the latest update, then the smallest member id).
-- The channel's address is the survivor profile's (email for email; phone for sms and push). A contact is
-- suppressed by an unsubscribe, hard bounce or spam complaint the messaging platform reported for that
-- address on that channel at or after the consent: consent given again after a suppression restores it.
-- contactability_status: contactable | no_consent | no_address | unsubscribe | hard_bounce | spam_complaint.
--
-- Incremental: a night re-assesses the customers whose survivor profile changed or is new
-- (int_customer_profiles_survived.changed_at), whose loyalty consents may have changed, whose email or phone
-- received a suppression event staged since the last build, and whose stored suppression no longer has its
-- event (the messaging platform re-sent it for another address). A customer merged away leaves tombstones that
-- the post-hook deletes; it is found among the customers whose profile was deleted since, which
-- int_customer_profiles_survived records (departed_values), instead of comparing every stored customer with the
-- profiles (docs/performance.md, section AS), which remains the fallback when that record does not reach back.
-- Consents may have changed for the customers of the loyalty members staged since, of the records re-resolved
-- since, and those records left (recorded by int_records_resolved in departed_values,
-- macros/departed_values.sql). When that record does not reach back to the last build (a full build of the
-- records since), the night compares instead a fingerprint of every customer's loyalty records and consents
-- with the one its rows keep (consent_fingerprint), which joined every member with its record every night
-- (docs/performance.md, section AQ).
-- changed_at moves only when a row's values change, so a rewritten row can keep an older one; written_at, the
-- stamp of every row a build writes, tells the tests which rows were written since they passed.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'written_at'},
    unique_key=['customer_id', 'channel'],
    post_hook="{{ delete_tombstones('contactability_status') }}",
) }}

{#- What the consents of a customer are decided from: their loyalty records and those records' consents. -#}
{%- set consent_fingerprint -%}
    sum(hash(
        loyalty_members.loyalty_member_id, loyalty_members.updated_at,
        loyalty_members.has_email_consent, loyalty_members.email_consent_at,
        loyalty_members.has_sms_consent, loyalty_members.sms_consent_at,
        loyalty_members.has_push_consent, loyalty_members.push_consent_at
    ))::hugeint
{%- endset %}

{%- set compare_every_fingerprint = false %}
{%- set profiles_deleted = none %}
{%- if is_incremental() %}
{%- do require_incremental_columns(['consent_fingerprint', 'changed_at', 'written_at']) %}
{%- set assessed_through = stored_watermark('written_at') %}
{%- set departed_customers = values_departed_since(ref('int_records_resolved'), since=assessed_through) %}
{%- set compare_every_fingerprint = departed_customers is none %}
{%- set profiles_deleted = values_departed_since(ref('int_customer_profiles_survived'), since=assessed_through) %}
{%- endif %}

with

profiles as (
    select * from {{ ref('int_customer_profiles_survived') }}
),

loyalty_members as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_loyalty__members') }}
),

records_resolved as {{ cte_not_materialized() }} (
    select * from {{ ref('int_records_resolved') }}
),

esp_activity as (
    select * from {{ ref('stg_esp__activity') }}
),

channels as (
    select unnest(['email', 'sms', 'push']) as channel
),

suppression_events as (
    select
        channel,
        case when channel = 'email' then email else phone end as address,
        event_type,
        occurred_at,
        staged_at,
    from esp_activity
    where is_suppression_event
),

{% if compare_every_fingerprint %}
consent_fingerprints as (
    select
        records_resolved.customer_id,
        {{ consent_fingerprint }} as consent_fingerprint,
    from loyalty_members
    inner join records_resolved
        on 'loyalty_member:' || loyalty_members.loyalty_member_id = records_resolved.record_id
    group by records_resolved.customer_id
),
{% endif %}

{% if is_incremental() %}
stored_customers as (
    select customer_id, consent_fingerprint from {{ this }} where channel = 'email'
),

customers_whose_consents_may_have_changed as (
{%- if not compare_every_fingerprint %}
    -- The customers of the loyalty members staged since, the customers loyalty records joined since (a record
    -- re-resolved since names its customer now) and the customers records left (departed_values: the customer
    -- a record had before it was rewritten or dropped, macros/departed_values.sql; of any source, as the record
    -- keeps only the customer).
    select customer_id
    from records_resolved
    where record_id in (
        select 'loyalty_member:' || loyalty_member_id from loyalty_members where staged_at > {{ assessed_through }}
    )
    union
    select customer_id
    from records_resolved
    where changed_at > {{ assessed_through }}
        and record_source = 'loyalty_member'
    union
    select departed_value from ({{ departed_customers }}) as departed
{%- else %}
    -- No record of the customers records left that reaches back to the last build: every customer's loyalty
    -- records and consents compared with the fingerprint stored with their rows.
    select profiles.customer_id
    from profiles
    left join consent_fingerprints
        on profiles.customer_id = consent_fingerprints.customer_id
    left join stored_customers
        on profiles.customer_id = stored_customers.customer_id
    where stored_customers.consent_fingerprint is distinct from consent_fingerprints.consent_fingerprint
{%- endif %}
),

new_suppressions as (
    select channel, address from suppression_events where staged_at > {{ assessed_through }}
),

customers_to_assess as (
    {%- if not compare_every_fingerprint %}
    -- Profiles that changed since, and new customers: a profile the table lacks was written since its last build.
    select customer_id
    from profiles
    where changed_at > {{ assessed_through }}
    union
    select profiles.customer_id
    from profiles
    anti join stored_customers
        on profiles.customer_id = stored_customers.customer_id
    where profiles.written_at > {{ assessed_through }}
    {%- else %}
    select profiles.customer_id
    from profiles
    left join stored_customers
        on profiles.customer_id = stored_customers.customer_id
    where stored_customers.customer_id is null
        or profiles.changed_at > {{ assessed_through }}
    {%- endif %}
    union
    select customer_id from customers_whose_consents_may_have_changed
    union
    -- The addresses suppressed since the last build: the email for email, the phone for sms and push.
    select profiles.customer_id
    from profiles
    semi join new_suppressions
        on new_suppressions.channel = 'email' and profiles.email = new_suppressions.address
    union
    select profiles.customer_id
    from profiles
    semi join new_suppressions
        on new_suppressions.channel <> 'email' and profiles.phone = new_suppressions.address
    union
    -- Stored suppressions whose event is gone: re-delivered with another address, or as another event type.
    select stored.customer_id
    from {{ this }} as stored
    anti join suppression_events
        on stored.channel = suppression_events.channel
        and stored.address = suppression_events.address
        and stored.suppressed_by = suppression_events.event_type
        and stored.suppressed_at = suppression_events.occurred_at
    where stored.suppressed_by is not null
),

profiles_to_assess as (
    select * from profiles semi join customers_to_assess using (customer_id)
),
{%- if profiles_deleted is not none %}

customers_merged_away as (
    -- The customers whose profile was deleted since the last build (departed_values of
    -- int_customer_profiles_survived): the only stored customers that can have lost their profile.
    select departed_value as customer_id from ({{ profiles_deleted }}) as departed
),
{%- endif %}
{% else %}
profiles_to_assess as (
    select * from profiles
),
{% endif %}

members_to_assess as (
    -- The loyalty members of the customers assessed, with their customer.
    select
        records_resolved.customer_id,
        loyalty_members.*,
    from loyalty_members
    inner join records_resolved
        on 'loyalty_member:' || loyalty_members.loyalty_member_id = records_resolved.record_id
    semi join profiles_to_assess
        on records_resolved.customer_id = profiles_to_assess.customer_id
),
{% if not compare_every_fingerprint %}

consent_fingerprints as (
    -- Kept with the rows for a night whose change lists do not reach back: of the customers assessed only (every
    -- customer in a full build).
    select
        customer_id,
        {{ consent_fingerprint }} as consent_fingerprint,
    from members_to_assess as loyalty_members
    group by customer_id
),
{% endif %}

member_consents as (
    select
        loyalty_members.customer_id,
        loyalty_members.loyalty_member_id,
        loyalty_members.updated_at,
        consents.channel,
        consents.has_consent,
        consents.consent_at,
    from members_to_assess as loyalty_members
    cross join lateral (
        select 'email' as channel, loyalty_members.has_email_consent as has_consent, loyalty_members.email_consent_at as consent_at
        union all
        select 'sms', loyalty_members.has_sms_consent, loyalty_members.sms_consent_at
        union all
        select 'push', loyalty_members.has_push_consent, loyalty_members.push_consent_at
    ) as consents
),

latest_consents as (
    select *
    from member_consents
    qualify row_number() over (
        partition by customer_id, channel
        order by consent_at desc nulls last, updated_at desc, loyalty_member_id
    ) = 1
),

customer_channels as (
    select
        profiles.customer_id,
        channels.channel,
        case when channels.channel = 'email' then profiles.email else profiles.phone end as address,
        coalesce(latest_consents.has_consent, false) as has_consent,
        latest_consents.consent_at,
        latest_consents.loyalty_member_id as consent_loyalty_member_id,
    from profiles_to_assess as profiles
    cross join channels
    left join latest_consents
        on profiles.customer_id = latest_consents.customer_id
        and channels.channel = latest_consents.channel
),

suppressions as (
    -- The latest suppression of the channel's address since consent (all of them when consent has no time).
    select
        customer_channels.customer_id,
        customer_channels.channel,
        -- Ties on time: the alphabetically last event type, so the answer never depends on row order.
        arg_max(
            suppression_events.event_type,
            strftime(suppression_events.occurred_at, '%Y-%m-%d %H:%M:%S.%f') || suppression_events.event_type
        ) as suppressed_by,
        max(suppression_events.occurred_at) as suppressed_at,
    from customer_channels
    inner join suppression_events
        on customer_channels.channel = suppression_events.channel
        and customer_channels.address = suppression_events.address
    where customer_channels.consent_at is null
        or suppression_events.occurred_at >= customer_channels.consent_at
    group by customer_channels.customer_id, customer_channels.channel
),

assessed as (
    select
        customer_channels.customer_id,
        customer_channels.channel,
        customer_channels.address,
        customer_channels.has_consent,
        customer_channels.consent_at,
        customer_channels.consent_loyalty_member_id,
        suppressions.suppressed_by,
        suppressions.suppressed_at,
        case
            when not customer_channels.has_consent then 'no_consent'
            when customer_channels.address is null then 'no_address'
            when suppressions.suppressed_by is not null then suppressions.suppressed_by
            else 'contactable'
        end as contactability_status,
        customer_channels.has_consent
            and customer_channels.address is not null
            and suppressions.suppressed_by is null as is_contactable,
        consent_fingerprints.consent_fingerprint,
    from customer_channels
    left join suppressions
        on customer_channels.customer_id = suppressions.customer_id
        and customer_channels.channel = suppressions.channel
    left join consent_fingerprints
        on customer_channels.customer_id = consent_fingerprints.customer_id
),

final as (
    select
        assessed.*,
        {{ stamp_when_changed('assessed', [
            'address', 'has_consent', 'consent_at', 'consent_loyalty_member_id', 'suppressed_by', 'suppressed_at',
            'contactability_status', 'is_contactable',
        ], 'changed_at') }} as changed_at,
        {{ build_stamp() }} as written_at,
    from assessed
    {{- join_previous_row('assessed', ['customer_id', 'channel']) }}
    -- Merged away: tombstones (no status) replace the stored rows and the post-hook deletes them. Found among the
    -- profiles deleted since; without that record, every stored customer is compared with the profiles.
    {{- union_tombstones_of_stored_keys_not_in(
        'profiles', 'customer_id', ['customer_id', 'channel'],
        among='customers_merged_away' if profiles_deleted is not none else none) }}
)

select * from final
