-- One profile per customer: each field (name, email, phone, birth date, gender) taken from the customer's
-- records by survivorship. Rule, per field: the record source with the best priority in the source_priority
-- seed wins; among records of that source the most recent one; among equally recent ones the smallest value,
-- so the choice never depends on row order. Emails and phones are only candidates when valid and linking
-- (int_identifiers_assessed.is_linking): a placeholder or a shared family address is never a profile's
-- contact. Empty values are not candidates, so a field falls back to the next record that has it.
--
-- Incremental: each profile keeps a fingerprint of its records and their sources' priorities. A night
-- re-derives the customers whose fingerprint changed (a record joined or left; a priority was edited), the
-- customers of records int_records_resolved re-resolved (every record delivered again, whose values may have
-- changed, is: int_identifiers_observed re-derives it; and every record whose email or phone started or
-- stopped linking), and new customers; a customer no longer in int_records_resolved (merged away) leaves a
-- tombstone that the post-hook deletes. The record values stay out of the fingerprint: hashing them meant
-- joining every record with its source row every night, most of the model's cost on a night with little new
-- (docs/performance.md, section U). changed_at moves only when a profile's values change:
-- int_customer_channels_assessed reads those. A rewritten row can keep an older changed_at, so the tests of
-- this model find the rows written since they passed by written_at, the stamp of every row a build writes.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'written_at'},
    unique_key='customer_id',
    post_hook="{{ delete_tombstones('records_fingerprint') }}",
) }}

{#- The profile fields, each chosen by survivorship and kept with the source it came from (<field>_source). -#}
{%- set survived_fields = ['first_name', 'last_name', 'email', 'phone', 'birth_date', 'gender'] %}
{%- set survived_sources = [] %}
{%- for field in survived_fields %}{% do survived_sources.append(field ~ '_source') %}{% endfor %}

with

loyalty_members as (
    select * from {{ ref('stg_loyalty__members') }}
),

shop_customers as (
    select * from {{ ref('stg_shop__customers') }}
),

shop_orders as (
    select * from {{ ref('stg_shop__orders') }}
),

erp_documents as (
    select * from {{ ref('int_erp_documents_aggregated') }}
),

records_resolved as {{ cte_not_materialized() }} (
    select * from {{ ref('int_records_resolved') }}
),

identifiers_assessed as (
    select * from {{ ref('int_identifiers_assessed') }}
),

source_priority as (
    select * from {{ ref('source_priority') }}
),

source_records as (
    select
        'loyalty_member:' || loyalty_member_id as record_id,
        updated_at as recorded_at,
        first_name,
        last_name,
        case when is_email_valid then email end as email,
        phone,
        birth_date,
        gender,
    from loyalty_members
    union all
    select
        'shop_customer:' || shop_user_id,
        updated_at,
        first_name,
        last_name,
        case when is_email_valid then email end,
        phone,
        cast(null as date),
        cast(null as varchar),
    from shop_customers
    union all
    select
        'shop_order:' || shop_order_id,
        updated_at,
        cast(null as varchar),
        cast(null as varchar),
        case when is_email_valid then email end,
        phone,
        cast(null as date),
        cast(null as varchar),
    from shop_orders
    union all
    select
        'erp_document:' || erp_document_number,
        document_at,
        cast(null as varchar),
        cast(null as varchar),
        cast(null as varchar),
        phone,
        cast(null as date),
        cast(null as varchar),
    from erp_documents
),

customer_records as (
    -- Every resolved record with its profile values (records of other sources, such as web logins, have none).
    select
        records_resolved.customer_id,
        records_resolved.record_id,
        records_resolved.record_source,
        source_priority.priority,
        source_records.recorded_at,
        source_records.first_name,
        source_records.last_name,
        source_records.email,
        source_records.phone,
        source_records.birth_date,
        source_records.gender,
    from records_resolved
    left join source_records
        on records_resolved.record_id = source_records.record_id
    left join source_priority
        on records_resolved.record_source = source_priority.record_source
),

fingerprints as (
    -- From the resolved records alone, not their values: no join with the source rows.
    select
        records_resolved.customer_id,
        count(*) as record_count,
        sum(hash(records_resolved.record_id, source_priority.priority))::hugeint as records_fingerprint,
    from records_resolved
    left join source_priority
        on records_resolved.record_source = source_priority.record_source
    group by records_resolved.customer_id
),

{% if is_incremental() %}
{%- do require_incremental_columns(['records_fingerprint', 'changed_at', 'written_at']) %}
customers_to_survive as (
    {{ keys_whose_fingerprint_changed('fingerprints', 'customer_id', ['record_count', 'records_fingerprint']) }}
    union
    select customer_id
    from records_resolved
    where changed_at > {{ changed_watermark() }}
),

records_to_survive as (
    select * from customer_records semi join customers_to_survive using (customer_id)
),
{% else %}
records_to_survive as (
    select * from customer_records
),
{% endif %}

linking_emails as (
    -- By type and value (identifier_key is their concatenation): the two lookups hash only their own type, not
    -- every linking identifier, and build no key string per record.
    select identifier_value
    from identifiers_assessed
    where is_linking and identifier_type = 'email'
),

linking_phones as (
    select identifier_value
    from identifiers_assessed
    where is_linking and identifier_type = 'phone'
),

candidate_records as (
    -- The records that may give the profile a value: a source without a priority never does, an email or phone
    -- only when it is a linking identifier.
    select
        records.customer_id,
        records.record_id,
        records.record_source,
        records.priority,
        records.recorded_at,
        records.first_name,
        records.last_name,
        case when linking_emails.identifier_value is not null then records.email end as email,
        case when linking_phones.identifier_value is not null then records.phone end as phone,
        records.birth_date,
        records.gender,
    from records_to_survive as records
    left join linking_emails
        on records.email = linking_emails.identifier_value
    left join linking_phones
        on records.phone = linking_phones.identifier_value
    where records.priority is not null
),

field_survivors as (
    -- Per field, the first record holding a value in the survivorship order, with its source. One aggregate
    -- per field over the customer's records: first(... order by ...) keeps one running best per group, and a
    -- null value is no candidate (filter). Unpivoting to one row per (record, field) and pivoting the winners
    -- back took twice the CPU at M (docs/performance.md).
    select
        customer_id,
        {%- for field in survived_fields %}
        first(
            {'value': {{ field }}, 'source': record_source}
            order by priority, recorded_at desc nulls last, {{ field }}, record_id
        ) filter (where {{ field }} is not null) as {{ field }}_survivor,
        {%- endfor %}
    from candidate_records
    group by customer_id
),

survived as (
    select
        fingerprints.customer_id,
        {%- for field in survived_fields %}
        field_survivors.{{ field }}_survivor.value as {{ field }},
        {%- endfor %}
        {%- for field in survived_fields %}
        field_survivors.{{ field }}_survivor.source as {{ field }}_source,
        {%- endfor %}
        fingerprints.record_count,
        fingerprints.records_fingerprint,
    from fingerprints
    {%- if is_incremental() %}
    semi join customers_to_survive using (customer_id)
    {%- endif %}
    left join field_survivors
        on fingerprints.customer_id = field_survivors.customer_id
),

final as (
    select
        survived.*,
        {{ stamp_when_changed('survived', survived_fields + survived_sources, 'changed_at') }} as changed_at,
        {{ build_stamp() }} as written_at,
    from survived
    {{- join_previous_row('survived', 'customer_id') }}
    -- Merged away: a tombstone (no fingerprint) replaces the stored profile and the post-hook deletes it.
    {{- union_tombstones_of_stored_keys_not_in('fingerprints', 'customer_id') }}
)

select * from final
