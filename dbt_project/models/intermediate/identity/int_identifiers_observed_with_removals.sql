-- Every identifier seen in every source record that names a person, one row per (record, identifier), with
-- the pairs a record no longer carries marked removed. A record ties its identifiers together: that
-- co-occurrence is the only evidence identity resolution uses. Most models read the view
-- int_identifiers_observed, the pairs not removed; the models that must learn what a record dropped
-- (int_identifiers_assessed, int_identity_edges, int_records_resolved) read this table's rows changed since
-- they last ran.
--
-- Incremental: a record's identifiers depend only on that record's staged row (an ERP document's on its
-- aggregated lines; a web login's, a (device, account) pair, on all its login events), so a night derives
-- again only:
--   - the shop orders, ERP documents and till receipts whose staged row was loaded since the last build (their
--     staging tables never fall back to an older row);
--   - the shop accounts and loyalty members staged since (staging stages a key again whenever its winning row
--     may have changed, an older row brought back by a re-sent dump included), and those staging deleted;
--   - the web logins of the events staged since, with the logins their earlier versions carried
--     (stg_web__events.earlier_logins: a corrected login event can end a pair or move its first login).
-- The accounts, members and logins derived again are compared with the stored rows record by record (a count
-- and a sum of hashes of each record's identifiers), and only the records that differ are written: staging
-- re-stages a key delivered again with the same values. Before, all of them were derived and compared every
-- night, 1.3M records at M (docs/performance.md, section AB). changed_at tells the next models which records
-- were re-derived.
--
-- Removal markers: a re-derived record's stored pairs that tonight's derivation lacks (an email corrected
-- away, a record that went) are kept with is_removed and tonight's stamp, until the pair comes back. The next
-- models read them among the rows changed since they last ran. Without them, a pair that vanished left no
-- row behind, and those models compared every identifier's and every record's stored state with all 12M
-- observations every night to find the few that changed (docs/performance.md, section Y). Pairs are rarely
-- removed, so the markers stay few.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='record_id',
) }}

{#- A web login's record id, built where it is derived and where the logins to compare are listed: the same. -#}
{%- set web_login_record_id = "'web_login:' || device_id || '|' || shop_user_id" %}

with

shop_customers as (
    select * from {{ ref('stg_shop__customers') }}
    {{- only_staged_since_last_build() }}
),

shop_orders as (
    select * from {{ ref('stg_shop__orders') }}
    {{- only_new_deliveries('loaded_at') }}
),

erp_documents as (
    -- Identifiers are per document; the lines repeat them (the aggregate takes the first of each).
    select * from {{ ref('int_erp_documents_aggregated') }}
    {{- only_new_deliveries('loaded_at') }}
),

pos_receipts as (
    select * from {{ ref('stg_pos__receipts') }}
    {{- only_new_deliveries('loaded_at') }}
),

loyalty_members as (
    select * from {{ ref('stg_loyalty__members') }}
    {{- only_staged_since_last_build() }}
),

login_events as {{ cte_not_materialized() }} (
    select device_id, shop_user_id, occurred_at, loaded_at
    from {{ ref('stg_web__events') }}
    where shop_user_id is not null
),

{%- if is_incremental() %}

events_staged_since as {{ cte_not_materialized() }} (
    select device_id, shop_user_id, earlier_logins
    from {{ ref('stg_web__events') }}
    {{- only_staged_since_last_build() }}
),

logins_to_derive as (
    -- The (device, account) pairs of the events staged since, as they log in now and as their earlier versions
    -- did: every pair that gained, lost or changed a login event since the last build.
    select device_id, shop_user_id from events_staged_since where shop_user_id is not null
    union
    select earlier.device_id, earlier.shop_user_id
    from (select unnest(earlier_logins) as earlier from events_staged_since where earlier_logins is not null)
),

{%- endif %}

web_logins as (
    -- A device becomes a person's only by logging in: the (device, user) pair is the record.
    select
        device_id,
        shop_user_id,
        min(occurred_at) as first_login_at,
        max(loaded_at) as loaded_at
    from login_events
    {%- if is_incremental() %}
    semi join logins_to_derive using (device_id, shop_user_id)
    {%- endif %}
    group by device_id, shop_user_id
),

observations as (
    {% set email_ok = "is_email_valid" %}
    select 'shop_customer:' || shop_user_id as record_id, 'shop_customer' as record_source, 'shop_user' as identifier_type, cast(shop_user_id as varchar) as identifier_value, registered_at as observed_at, loaded_at from shop_customers
    union all
    select 'shop_customer:' || shop_user_id, 'shop_customer', 'email', email, registered_at, loaded_at from shop_customers where {{ email_ok }}
    union all
    select 'shop_customer:' || shop_user_id, 'shop_customer', 'phone', phone, registered_at, loaded_at from shop_customers where phone is not null

    union all
    select 'shop_order:' || shop_order_id, 'shop_order', 'shop_user', cast(shop_user_id as varchar), ordered_at, loaded_at from shop_orders where shop_user_id is not null
    union all
    select 'shop_order:' || shop_order_id, 'shop_order', 'email', email, ordered_at, loaded_at from shop_orders where {{ email_ok }}
    union all
    select 'shop_order:' || shop_order_id, 'shop_order', 'phone', phone, ordered_at, loaded_at from shop_orders where phone is not null

    union all
    select 'erp_document:' || erp_document_number, 'erp_document', 'erp_counterparty', erp_counterparty_code, document_at, loaded_at from erp_documents where erp_counterparty_code is not null
    union all
    select 'erp_document:' || erp_document_number, 'erp_document', 'phone', phone, document_at, loaded_at from erp_documents where phone is not null
    union all
    select 'erp_document:' || erp_document_number, 'erp_document', 'loyalty_card', loyalty_card_number, document_at, loaded_at from erp_documents where loyalty_card_number is not null

    union all
    select 'pos_receipt:' || receipt_id, 'pos_receipt', 'loyalty_card', loyalty_card_number, sold_at, loaded_at from pos_receipts where loyalty_card_number is not null

    union all
    select 'loyalty_member:' || loyalty_member_id, 'loyalty_member', 'loyalty_member', cast(loyalty_member_id as varchar), enrolled_at, loaded_at from loyalty_members
    union all
    select 'loyalty_member:' || loyalty_member_id, 'loyalty_member', 'loyalty_card', loyalty_card_number, enrolled_at, loaded_at from loyalty_members where loyalty_card_number is not null
    union all
    select 'loyalty_member:' || loyalty_member_id, 'loyalty_member', 'email', email, enrolled_at, loaded_at from loyalty_members where {{ email_ok }}
    union all
    select 'loyalty_member:' || loyalty_member_id, 'loyalty_member', 'phone', phone, enrolled_at, loaded_at from loyalty_members where phone is not null

    union all
    select {{ web_login_record_id }}, 'web_login', 'web_device', device_id, first_login_at, loaded_at from web_logins
    union all
    select {{ web_login_record_id }}, 'web_login', 'shop_user', cast(shop_user_id as varchar), first_login_at, loaded_at from web_logins
),

{% if is_incremental() %}
{%- do require_incremental_columns(['is_removed']) %}
{%- set compared_sources = "('shop_customer', 'loyalty_member', 'web_login')" %}
{%- set fingerprint = "count(*) as identifier_count, sum(hash(identifier_type, identifier_value, observed_at, loaded_at))::hugeint as fingerprint" %}
derived_fingerprints as (
    -- Per record, its identifiers as derived tonight: how many, and the sum of their 64-bit hashes. Equal
    -- fingerprints mean equal rows but for a hash collision (the (record, identifier) pairs are unique,
    -- tested), found without anti joins of every row on all its columns both ways (docs/performance.md, L).
    select record_id, {{ fingerprint }}
    from observations
    where record_source in {{ compared_sources }}
    group by record_id
),

records_compared as (
    -- The accounts, members and logins derived again, and those with nothing left to derive: the accounts and
    -- members staging deleted (an anti join of the stored records with the staged keys: 0.43M and 0.34M at M)
    -- and the logins left with no login event.
    select record_id from derived_fingerprints
    {%- for record_source, key_type, staged, staged_key in [
        ('shop_customer', 'shop_user', ref('stg_shop__customers'), 'shop_user_id'),
        ('loyalty_member', 'loyalty_member', ref('stg_loyalty__members'), 'loyalty_member_id'),
    ] %}
    union all
    select stored.record_id
    from {{ this }} as stored
    anti join {{ staged }} as staged
        on stored.record_id = '{{ record_source }}:' || staged.{{ staged_key }}
    where stored.record_source = '{{ record_source }}' and stored.identifier_type = '{{ key_type }}'
        and not stored.is_removed
    {%- endfor %}
    union all
    select {{ web_login_record_id }} from logins_to_derive
),

stored_fingerprints as (
    select record_id, {{ fingerprint }}
    from {{ this }}
    where record_source in {{ compared_sources }} and not is_removed
        and record_id in (select record_id from records_compared)
    group by record_id
),

compared_records_changed as (
    select coalesce(derived.record_id, stored.record_id) as record_id
    from derived_fingerprints as derived
    full outer join stored_fingerprints as stored
        on derived.record_id = stored.record_id
    where derived.record_id is null
        or stored.record_id is null
        or derived.identifier_count <> stored.identifier_count
        or derived.fingerprint <> stored.fingerprint
),

observations_to_write as (
    select * from observations where record_source not in {{ compared_sources }}
    union all
    select * from observations
    where record_source in {{ compared_sources }}
        and record_id in (select record_id from compared_records_changed)
),

rederived_records as (
    -- Every record derived again tonight: the orders, documents and receipts delivered, and the compared
    -- records that differ from the stored ones (those gone included).
    select 'shop_order:' || shop_order_id as record_id from shop_orders
    union all
    select 'erp_document:' || erp_document_number from erp_documents
    union all
    select 'pos_receipt:' || receipt_id from pos_receipts
    union all
    select record_id from compared_records_changed
),

stored_rows_rederived as {{ cte_materialized() }} (
    -- What the table holds for them: delete+insert replaces all of it. Probing the stored rows with tonight's
    -- few records: 0.02 s at M.
    select * from {{ this }} semi join rederived_records using (record_id)
),

removal_markers as (
    -- The pairs a re-derived record held and no longer carries: marked removed tonight. The markers it
    -- already had stay as they were, stamp included (they were read when they were new).
    select
        stored.* replace (
            case when stored.is_removed then stored.changed_at else {{ build_stamp() }} end as changed_at
        )
    from stored_rows_rederived as stored
    anti join observations_to_write as tonight
        on stored.record_id = tonight.record_id
        and stored.identifier_type = tonight.identifier_type
        and stored.identifier_value = tonight.identifier_value
),
{% else %}
observations_to_write as (
    select * from observations
),
{% endif %}

final as (
    select
        record_id,
        record_source,
        identifier_type,
        identifier_value,
        identifier_type || ':' || identifier_value as identifier_key,
        observed_at,
        loaded_at,
        false as is_removed,
        {{ build_stamp() }} as changed_at
    from observations_to_write
    {%- if is_incremental() %}
    union all
    select
        record_id,
        record_source,
        identifier_type,
        identifier_value,
        identifier_key,
        observed_at,
        loaded_at,
        true as is_removed,
        changed_at
    from removal_markers
    {%- endif %}
)

select * from final
