-- One profile per customer: each field (name, email, phone, birth date, gender) taken from the customer's
-- records by survivorship. Rule, per field: the record source with the best priority in the source_priority
-- seed wins; among records of that source the most recent one; among equally recent ones the smallest value,
-- so the choice never depends on row order. Emails and phones are only candidates when valid and linking
-- (int_identifiers_assessed.is_linking): a placeholder or a shared family address is never a profile's
-- contact. Empty values are not candidates, so a field falls back to the next record that has it.
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

records_resolved as (
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

candidates as (
    -- One row per (record, field, value), values as text; birth_date is cast back at the end.
    unpivot (
        select
            record_id,
            recorded_at,
            first_name,
            last_name,
            email,
            phone,
            cast(birth_date as varchar) as birth_date,
            gender,
        from source_records
    )
    on first_name, last_name, email, phone, birth_date, gender
    into name field_name value field_value
),

linking_identifiers as (
    select identifier_key
    from identifiers_assessed
    where is_linking
),

ranked_candidates as (
    select
        records_resolved.customer_id,
        records_resolved.record_source,
        candidates.field_name,
        candidates.field_value,
        row_number() over (
            partition by records_resolved.customer_id, candidates.field_name
            order by
                source_priority.priority,
                candidates.recorded_at desc nulls last,
                candidates.field_value,
                candidates.record_id
        ) as candidate_rank
    from candidates
    inner join records_resolved
        on candidates.record_id = records_resolved.record_id
    inner join source_priority
        on records_resolved.record_source = source_priority.record_source
    left join linking_identifiers
        on candidates.field_name || ':' || candidates.field_value = linking_identifiers.identifier_key
    where candidates.field_name not in ('email', 'phone')
        or linking_identifiers.identifier_key is not null
),

survivors as (
    select
        customer_id,
        max(case when field_name = 'first_name' then field_value end) as first_name,
        max(case when field_name = 'last_name' then field_value end) as last_name,
        max(case when field_name = 'email' then field_value end) as email,
        max(case when field_name = 'phone' then field_value end) as phone,
        cast(max(case when field_name = 'birth_date' then field_value end) as date) as birth_date,
        max(case when field_name = 'gender' then field_value end) as gender,
        max(case when field_name = 'first_name' then record_source end) as first_name_source,
        max(case when field_name = 'last_name' then record_source end) as last_name_source,
        max(case when field_name = 'email' then record_source end) as email_source,
        max(case when field_name = 'phone' then record_source end) as phone_source,
        max(case when field_name = 'birth_date' then record_source end) as birth_date_source,
        max(case when field_name = 'gender' then record_source end) as gender_source,
    from ranked_candidates
    where candidate_rank = 1
    group by customer_id
),

customers as (
    select distinct customer_id from records_resolved
),

final as (
    select
        customers.customer_id,
        survivors.first_name,
        survivors.last_name,
        survivors.email,
        survivors.phone,
        survivors.birth_date,
        survivors.gender,
        survivors.first_name_source,
        survivors.last_name_source,
        survivors.email_source,
        survivors.phone_source,
        survivors.birth_date_source,
        survivors.gender_source,
    from customers
    left join survivors
        on customers.customer_id = survivors.customer_id
)

select * from final
