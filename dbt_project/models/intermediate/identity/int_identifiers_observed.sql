-- Every identifier seen in every source record that names a person, one row per (record, identifier).
-- A record ties its identifiers together: that co-occurrence is the only evidence identity resolution uses.
with

shop_customers as (
    select * from {{ ref('stg_shop__customers') }}
),

shop_orders as (
    select * from {{ ref('stg_shop__orders') }}
),

erp_sales_lines as (
    select * from {{ ref('stg_erp__sales_lines') }}
),

pos_receipts as (
    select * from {{ ref('stg_pos__receipts') }}
),

loyalty_members as (
    select * from {{ ref('stg_loyalty__members') }}
),

web_events as (
    select * from {{ ref('stg_web__events') }}
),

erp_documents as (
    -- Identifiers are per document; lines repeat them.
    select
        erp_document_number,
        min(erp_counterparty_code) as erp_counterparty_code,
        min(phone) as phone,
        min(loyalty_card_number) as loyalty_card_number,
        min(document_at) as document_at
    from erp_sales_lines
    group by erp_document_number
),

web_logins as (
    -- A device becomes a person's only by logging in: the (device, user) pair is the record.
    select
        device_id,
        shop_user_id,
        min(occurred_at) as first_login_at
    from web_events
    where shop_user_id is not null
    group by device_id, shop_user_id
),

observations as (
    {% set email_ok = "is_email_valid" %}
    select 'shop_customer:' || shop_user_id as record_id, 'shop_customer' as record_source, 'shop_user' as identifier_type, cast(shop_user_id as varchar) as identifier_value, registered_at as observed_at from shop_customers
    union all
    select 'shop_customer:' || shop_user_id, 'shop_customer', 'email', email, registered_at from shop_customers where {{ email_ok }}
    union all
    select 'shop_customer:' || shop_user_id, 'shop_customer', 'phone', phone, registered_at from shop_customers where phone is not null

    union all
    select 'shop_order:' || shop_order_id, 'shop_order', 'shop_user', cast(shop_user_id as varchar), ordered_at from shop_orders where shop_user_id is not null
    union all
    select 'shop_order:' || shop_order_id, 'shop_order', 'email', email, ordered_at from shop_orders where {{ email_ok }}
    union all
    select 'shop_order:' || shop_order_id, 'shop_order', 'phone', phone, ordered_at from shop_orders where phone is not null

    union all
    select 'erp_document:' || erp_document_number, 'erp_document', 'erp_counterparty', erp_counterparty_code, document_at from erp_documents where erp_counterparty_code is not null
    union all
    select 'erp_document:' || erp_document_number, 'erp_document', 'phone', phone, document_at from erp_documents where phone is not null
    union all
    select 'erp_document:' || erp_document_number, 'erp_document', 'loyalty_card', loyalty_card_number, document_at from erp_documents where loyalty_card_number is not null

    union all
    select 'pos_receipt:' || receipt_id, 'pos_receipt', 'loyalty_card', loyalty_card_number, sold_at from pos_receipts where loyalty_card_number is not null

    union all
    select 'loyalty_member:' || loyalty_member_id, 'loyalty_member', 'loyalty_member', cast(loyalty_member_id as varchar), enrolled_at from loyalty_members
    union all
    select 'loyalty_member:' || loyalty_member_id, 'loyalty_member', 'loyalty_card', loyalty_card_number, enrolled_at from loyalty_members where loyalty_card_number is not null
    union all
    select 'loyalty_member:' || loyalty_member_id, 'loyalty_member', 'email', email, enrolled_at from loyalty_members where {{ email_ok }}
    union all
    select 'loyalty_member:' || loyalty_member_id, 'loyalty_member', 'phone', phone, enrolled_at from loyalty_members where phone is not null

    union all
    select 'web_login:' || device_id || '|' || shop_user_id, 'web_login', 'web_device', device_id, first_login_at from web_logins
    union all
    select 'web_login:' || device_id || '|' || shop_user_id, 'web_login', 'shop_user', cast(shop_user_id as varchar), first_login_at from web_logins
),

final as (
    select
        record_id,
        record_source,
        identifier_type,
        identifier_value,
        identifier_type || ':' || identifier_value as identifier_key,
        observed_at
    from observations
)

select * from final
