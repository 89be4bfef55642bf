{{ config(materialized='incremental', unique_key=['message_id', 'event_type']) }}

with

source as {{ cte_not_materialized() }} (
    select * from {{ source('esp', 'activity') }}
    {{ only_new_deliveries() }}
),

renamed as (
    select
        ---------- ids
        message_id,
        ---------- strings
        lower(trim(channel)) as channel,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        lower(trim(event_type)) as event_type,
        nullif(trim(campaign), '') as campaign,
        ---------- booleans
        lower(trim(event_type)) in ('unsubscribe', 'hard_bounce', 'spam_complaint') as is_suppression_event,
        ---------- timestamps
        occurred_at,
        ---------- lineage
        {{ lineage_columns() }}
    from source
),

deduplicated as (
    {{ deduplicate_incrementally('renamed', ['message_id', 'event_type'], latest_delivery_first()) }}
)

select * from deduplicated
