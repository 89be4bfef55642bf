-- One profile per customer: each field (name, email, phone, birth date, gender) taken from the customer's
-- records by survivorship. Rule, per field: the record source with the best priority in the source_priority
-- seed wins; among records of that source the most recent one; among equally recent ones the smallest value,
-- so the choice never depends on row order. Emails and phones are only candidates when valid and linking
-- (int_identifiers_assessed.is_linking): a placeholder or a shared family address is never a profile's
-- contact. Empty values are not candidates, so a field falls back to the next record that has it.
--
-- Incremental: a night re-derives the customers of the records int_records_resolved re-resolved since (every
-- record delivered again, whose values may have changed, is: int_identifiers_observed re-derives it; every
-- record whose email or phone started or stopped linking; every record that joined a customer) and the
-- customers records left, which int_records_resolved records as it rewrites or drops them (departed_values,
-- macros/departed_values.sql). A customer no longer in int_records_resolved (merged away) leaves a tombstone
-- that the post-hook deletes. Comparing every customer's records with the fingerprint its profile keeps (its
-- records and their sources' priorities) cost a grouping of all 5.4M records at M every night (the query took
-- 0.66-0.74 s with nothing new, 0.10 s without it; docs/performance.md, section AO); it is the fallback when
-- the record of departures does not reach back to the last build, and when the source priorities differ from
-- those the profiles were derived with (priorities_fingerprint). The record values stay out of the
-- fingerprint: hashing them meant joining every record with its source row every night (section U).
-- changed_at moves only when a profile's values change: int_customer_channels_assessed reads those. A
-- rewritten row can keep an older changed_at, so the tests of this model find the rows written since they
-- passed by written_at, the stamp of every row a build writes.
-- The customers the post-hook deletes are recorded (departures_of: customer_id, macros/departed_values.sql), so
-- that contactability and the customer 360 find the customers merged away among them.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'written_at', 'departures_of': 'customer_id'},
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

{#- The source priorities every profile written was derived with, one number: a profile written with other
    priorities may have another survivor. -#}
{%- set priorities_fingerprint -%}
    (select hash(list(struct_pack(record_source, priority) order by record_source)) from source_priority)
{%- endset %}

{%- set departed_customers = none %}
{%- if is_incremental() %}
{%- do require_incremental_columns(['records_fingerprint', 'changed_at', 'written_at', 'priorities_fingerprint']) %}
{%- set derived_through = stored_watermark('written_at') %}
{#- Read when the model is compiled, as the departures are (none in a unit test, whose `this` is a fixture). -#}
{%- set stale_priorities = run_query(
    "with source_priority as (select * from " ~ ref('source_priority') ~ ") select count(*) from " ~ this
    ~ " where priorities_fingerprint is distinct from " ~ priorities_fingerprint)
    if execute and this is not string else none %}
{%- if stale_priorities and stale_priorities.rows[0][0] == 0 %}
{%- set departed_customers = values_departed_since(ref('int_records_resolved'), since=derived_through) %}
{%- endif %}
{%- endif %}

{%- if departed_customers is not none %}
customers_to_survive as (
    -- The customers records joined (a record re-resolved since names its customer now) and those records left
    -- (departed_values: the customer a record had before it was rewritten or dropped).
    select customer_id
    from records_resolved
    where changed_at > {{ derived_through }}
    union
    select departed_value from ({{ departed_customers }}) as departed
),
{%- endif %}

fingerprints as (
    -- From the resolved records alone, not their values: no join with the source rows.
    select
        records_resolved.customer_id,
        count(*) as record_count,
        sum(hash(records_resolved.record_id, source_priority.priority))::hugeint as records_fingerprint,
    from records_resolved
    left join source_priority
        on records_resolved.record_source = source_priority.record_source
    {%- if departed_customers is not none %}
    where records_resolved.customer_id in (select customer_id from customers_to_survive)
    {%- endif %}
    group by records_resolved.customer_id
),

{% if is_incremental() and departed_customers is none %}
customers_to_survive as (
    -- No record of the customers records left that reaches back to the last build, or the priorities were
    -- edited: every customer's records compared with the fingerprint stored with the profile.
    {{ keys_whose_fingerprint_changed('fingerprints', 'customer_id', ['record_count', 'records_fingerprint']) }}
    union
    select customer_id
    from records_resolved
    where changed_at > {{ changed_watermark() }}
    union
    select customer_id
    from {{ this }}
    where priorities_fingerprint is distinct from {{ priorities_fingerprint }}
),
{% endif %}

{% if is_incremental() %}
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
        {{ priorities_fingerprint }} as priorities_fingerprint,
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
    {%- if departed_customers is none %}
    {{- union_tombstones_of_stored_keys_not_in('fingerprints', 'customer_id') }}
    {%- else %}
    union all by name
    select customer_id, {{ build_stamp() }} as changed_at
    from {{ this }}
    semi join customers_to_survive using (customer_id)
    anti join fingerprints using (customer_id)
    {%- endif %}
)

select * from final
