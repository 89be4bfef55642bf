-- Orders from the shop, the ERP and the tills in one grain, one row per real order.
--
-- Keys are composite and source-qualified: till receipts are store + year + number, because numbers repeat
-- across stores and restart every January. A web order exists twice (the shop and its ERP mirror, which
-- quotes the shop's order number): the shop's row is kept and the ERP document is attached to it, so it is
-- counted once. Phone and in-store orders exist only in the ERP and are kept from there.
--
-- Incremental: a night rebuilds the orders whose source row was loaded since the last build, every order
-- sharing a shop order number with one of them (a web order and its ERP mirror or return decide each other's
-- rows), and the orders whose record's customer may have changed (int_records_resolved.changed_at, and the
-- records of identifiers that started or stopped linking). An ERP document that turns out to mirror a web
-- order leaves a tombstone (source_system null) that removes its stored row. changed_at tells
-- int_order_lines_unified which orders were rebuilt. These tombstones are the only orders an incremental build
-- removes, so int_order_lines_unified looks for lines of vanished orders among ERP lines only: another way for
-- an order to leave incrementally must be added there too. The customer an order leaves (moved to another
-- customer, left anonymous, or a tombstone) is recorded in departed_values (departures_of): the order summaries
-- summarize that customer again from it (macros/departed_values.sql).
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at', 'departures_of': 'customer_id'},
    unique_key='order_id',
    post_hook="{{ delete_tombstones('source_system') }}",
) }}

with

shop_orders as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_shop__orders') }}
),

erp_documents as {{ cte_not_materialized() }} (
    select * from {{ ref('int_erp_documents_aggregated') }}
),

pos_receipts as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_pos__receipts') }}
),

records as {{ cte_not_materialized() }} (
    select * from {{ ref('int_records_resolved') }}
),

observations as (
    select * from {{ ref('int_identifiers_observed') }}
),

assessed as (
    select * from {{ ref('int_identifiers_assessed') }}
),

{% if is_incremental() %}
records_moved as (
    select record_id from records where changed_at > {{ changed_watermark() }}
    union
    {{ records_carrying('observations',
        'select identifier_key from assessed where linking_changed_at > ' ~ changed_watermark()) }}
),

erp_documents_rederived as (
    select erp_document_number, shop_order_number
    from erp_documents
    where loaded_at > {{ loaded_watermark() }}
        or 'erp_document:' || erp_document_number in (select record_id from records_moved)
),

shop_order_numbers_touched as (
    -- Tonight's numbers, and the numbers the rebuilt orders had before: a re-sent order or document may
    -- carry another number than the one that tied it to its mirror or return.
    select shop_order_number from shop_orders where loaded_at > {{ loaded_watermark() }}
    union
    select shop_order_number from erp_documents_rederived
    union
    select stored.shop_order_number
    from {{ this }} as stored
    where stored.order_id in (
            select 'shop-' || cast(shop_order_id as varchar) from shop_orders where loaded_at > {{ loaded_watermark() }}
            union all
            select 'erp-' || erp_document_number from erp_documents_rederived
        )
        or stored.mirrored_erp_document_number in (select erp_document_number from erp_documents_rederived)
),

shop_orders_to_build as (
    select *
    from shop_orders
    where shop_order_number in (select shop_order_number from shop_order_numbers_touched)
        or 'shop_order:' || cast(shop_order_id as varchar) in (select record_id from records_moved)
),

erp_documents_to_build as (
    select *
    from erp_documents
    where loaded_at > {{ loaded_watermark() }}
        or shop_order_number in (select shop_order_number from shop_order_numbers_touched)
        or 'erp_document:' || erp_document_number in (select record_id from records_moved)
),

pos_receipts_to_build as (
    select *
    from pos_receipts
    where loaded_at > {{ loaded_watermark() }}
        or 'pos_receipt:' || receipt_id in (select record_id from records_moved)
),

-- The mirrors and returns of the shop order numbers above, looked up among all documents and orders.
erp_documents_of_numbers as (
    select *
    from erp_documents
    where shop_order_number in (
        select shop_order_number from shop_orders_to_build
        union
        select shop_order_number from erp_documents_to_build
    )
),
{% else %}
shop_orders_to_build as (
    select * from shop_orders
),

erp_documents_to_build as (
    select * from erp_documents
),

pos_receipts_to_build as (
    select * from pos_receipts
),

erp_documents_of_numbers as (
    select * from erp_documents
),
{% endif %}

erp_mirrors as (
    -- ERP web documents that mirror a shop order. If the ERP mirrored one order twice, the first wins.
    select
        erp_documents.shop_order_number,
        min(erp_documents.erp_document_number) as erp_document_number
    from erp_documents_of_numbers as erp_documents
    inner join shop_orders
        on erp_documents.shop_order_number = shop_orders.shop_order_number
    where erp_documents.sales_channel = 'web'
        and erp_documents.operation = 'sale'
    group by erp_documents.shop_order_number
),

returned_shop_orders as (
    select distinct shop_order_number
    from shop_orders
    where is_returned
        and shop_order_number in (select shop_order_number from erp_documents_to_build)
),

from_shop as (
    select
        'shop-' || cast(shop_orders.shop_order_id as varchar) as order_id,
        'shop' as source_system,
        cast(shop_orders.shop_order_id as varchar) as source_order_key,
        shop_orders.shop_order_number,
        'shop_order:' || cast(shop_orders.shop_order_id as varchar) as record_id,
        erp_mirrors.erp_document_number as mirrored_erp_document_number,
        'web' as sales_channel,
        cast(null as varchar) as store_code,
        'sale' as order_type,
        case
            when shop_orders.is_cancelled then 'cancelled'
            when shop_orders.is_returned then 'returned'
            else 'completed'
        end as order_status,
        shop_orders.currency,
        shop_orders.total_amount as order_amount,
        false as is_netted_in_shop,
        shop_orders.ordered_at,
        shop_orders.loaded_at
    from shop_orders_to_build as shop_orders
    left join erp_mirrors
        on shop_orders.shop_order_number = erp_mirrors.shop_order_number
),

from_erp as (
    select
        'erp-' || erp_documents.erp_document_number as order_id,
        'erp' as source_system,
        erp_documents.erp_document_number as source_order_key,
        erp_documents.shop_order_number,
        'erp_document:' || erp_documents.erp_document_number as record_id,
        cast(null as varchar) as mirrored_erp_document_number,
        erp_documents.sales_channel,
        erp_documents.store_code,
        erp_documents.operation as order_type,
        case when erp_documents.document_status = 'cancelled' then 'cancelled' else 'completed' end as order_status,
        'RUB' as currency,
        erp_documents.document_amount as order_amount,
        -- The ERP's return of a web order the shop already shows as returned: the shop order nets to zero,
        -- so subtracting this document too would count the return twice.
        erp_documents.operation = 'return' and returned_shop_orders.shop_order_number is not null as is_netted_in_shop,
        erp_documents.document_at as ordered_at,
        erp_documents.loaded_at
    from erp_documents_to_build as erp_documents
    left join erp_mirrors
        on erp_documents.erp_document_number = erp_mirrors.erp_document_number
    left join returned_shop_orders
        on erp_documents.shop_order_number = returned_shop_orders.shop_order_number
    where erp_mirrors.erp_document_number is null
),

from_pos as (
    select
        'pos-' || pos_receipts.receipt_id as order_id,
        'pos' as source_system,
        pos_receipts.receipt_id as source_order_key,
        cast(null as varchar) as shop_order_number,
        'pos_receipt:' || pos_receipts.receipt_id as record_id,
        cast(null as varchar) as mirrored_erp_document_number,
        'till' as sales_channel,
        pos_receipts.store_code,
        pos_receipts.operation as order_type,
        'completed' as order_status,
        'RUB' as currency,
        pos_receipts.total_amount as order_amount,
        false as is_netted_in_shop,
        pos_receipts.sold_at as ordered_at,
        pos_receipts.loaded_at
    from pos_receipts_to_build as pos_receipts
),

unioned as (
    select * from from_shop
    union all
    select * from from_erp
    union all
    select * from from_pos
),

with_customers as (
    -- A mirrored web order is also evidence through its ERP document (phone, card): use it when the shop
    -- order alone names no one.
    select
        unioned.*,
        coalesce(shop_records.customer_id, mirror_records.customer_id) as customer_id
    from unioned
    left join records as shop_records
        on unioned.record_id = shop_records.record_id
    left join records as mirror_records
        on 'erp_document:' || unioned.mirrored_erp_document_number = mirror_records.record_id
),

final as (
    select
        order_id,
        customer_id,
        source_system,
        source_order_key,
        shop_order_number,
        mirrored_erp_document_number,
        sales_channel,
        case when sales_channel in ('web', 'phone') then 'online' else 'offline' end as channel_group,
        store_code,
        order_type,
        order_status,
        currency,
        order_amount,
        -- Net revenue: returns subtract, cancelled orders count nothing, returned web orders net to zero
        -- (and their ERP return document then counts nothing either).
        case
            when order_status in ('cancelled', 'returned') then 0
            when is_netted_in_shop then 0
            when order_type = 'return' then -order_amount
            else order_amount
        end as net_amount,
        order_type = 'sale' and order_status = 'completed' as is_purchase,
        ordered_at,
        cast(ordered_at as date) as ordered_date,
        loaded_at,
        {{ build_stamp() }} as changed_at
    from with_customers
)

select * from final
{%- if is_incremental() %}
union all by name
-- Tombstones: documents rebuilt tonight that mirror a web order, so they are not orders of their own.
select 'erp-' || erp_document_number as order_id, loaded_at, {{ build_stamp() }} as changed_at
from erp_documents_to_build
where erp_document_number in (select erp_document_number from erp_mirrors)
{%- endif %}
