-- Incremental: a night stages again only the keys delivered since, or whose stored row came from a delivery
-- a re-sent dump replaced, over all their raw rows (only_keys_to_stage_again).
{{ config(
    materialized='incremental',
    unique_key='loyalty_member_id',
    post_hook="{{ delete_rows_of_replaced_deliveries(source('loyalty', 'members')) }}",
) }}

with

source as {{ cte_not_materialized() }} (
    select * from {{ source('loyalty', 'members') }}
    {{- only_keys_to_stage_again(source('loyalty', 'members'), 'member_id', 'loyalty_member_id') }}
),

renamed as (
    select
        ---------- ids
        member_id as loyalty_member_id,
        nullif(trim(card_no), '') as loyalty_card_number,
        ---------- strings
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        nullif(upper(trim(gender)), '') as gender,
        birth_date as birth_date_as_delivered,
        ---------- booleans
        coalesce(email_consent, false) as has_email_consent,
        coalesce(sms_consent, false) as has_sms_consent,
        coalesce(push_consent, false) as has_push_consent,
        ---------- dates
        -- Captured by hand at enrolment: ISO mostly, dd.mm.yyyy sometimes, junk rarely (becomes null).
        coalesce(
            {{ try_parse_date('trim(birth_date)', '%Y-%m-%d') }},
            {{ try_parse_date('trim(birth_date)', '%d.%m.%Y') }}
        ) as birth_date,
        ---------- timestamps
        enrolled_at,
        -- Consent is compared with the messaging platform's suppressions, which it logs in UTC; the loyalty
        -- system logs local time (var business_utc_offset_hours), so consent times are moved to UTC here.
        {{ dbt.dateadd('hour', -var('business_utc_offset_hours'), 'email_consent_at') }} as email_consent_at,
        {{ dbt.dateadd('hour', -var('business_utc_offset_hours'), 'sms_consent_at') }} as sms_consent_at,
        {{ dbt.dateadd('hour', -var('business_utc_offset_hours'), 'push_consent_at') }} as push_consent_at,
        updated_at,
        ---------- lineage
        {{ lineage_columns() }}
    from source
),

deduplicated as (
    {{ deduplicate('renamed', 'loyalty_member_id', 'updated_at desc, ' ~ latest_delivery_first()) }}
),

final as (
    select
        *,
        {{ is_valid_email('email') }} as is_email_valid,
        birth_date is not null or birth_date_as_delivered is null as is_birth_date_valid
    from deduplicated
)

select * from final
