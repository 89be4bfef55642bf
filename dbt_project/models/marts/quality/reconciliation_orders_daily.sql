-- Reconciliation of orders: each source system's own control totals against the warehouse's count and amount
-- of that system's orders, per business day and cut (total; erp by sales channel; pos by store).
--
-- The warehouse side is computed from the system's own records in staging/intermediate, exactly the way the
-- system defines its report (orchestration/sample_data/control.py generates the demo's reports):
--   shop  orders created that day that are not cancelled (a returned order still counts), total_amount;
--   erp   sale documents that are not cancelled, web mirrors of shop orders included, the sum of their lines;
--   pos   sale receipts (returns excluded), total_amount.
-- Shop, ERP and tills record local business time, so the business date is the local date of that time.
--
-- The quality gate (orchestration/quality) reads this table and applies the tolerances and the window from
-- expectations/thresholds.yml; this model only states the differences.
with

control_totals as (
    select * from {{ ref('stg_control__totals') }}
),

shop_orders as (
    select * from {{ ref('stg_shop__orders') }}
),

erp_documents as (
    select * from {{ ref('int_erp_documents_aggregated') }}
),

pos_receipts as (
    select * from {{ ref('stg_pos__receipts') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

shop_sales as (
    select
        'shop' as source_system,
        shop_orders.ordered_date as business_date,
        shop_orders.total_amount as order_amount,
    from shop_orders
    where not shop_orders.is_cancelled
),

erp_sales as (
    select
        'erp' as source_system,
        erp_documents.document_date as business_date,
        -- The ERP reports channels by its own (Russian) names: translate back what stg_erp__sales_lines
        -- translated, so the cut values match the control file. An unknown channel stays visible.
        case erp_documents.sales_channel
            when 'web' then 'Интернет-магазин'
            when 'phone' then 'Телефон'
            when 'store' then 'Магазин'
            else 'unknown channel'
        end as channel_label,
        erp_documents.document_amount as order_amount,
    from erp_documents
    where erp_documents.operation = 'sale'
        and erp_documents.document_status is distinct from 'cancelled'
),

pos_sales as (
    select
        'pos' as source_system,
        pos_receipts.sold_date as business_date,
        pos_receipts.store_code,
        pos_receipts.total_amount as order_amount,
    from pos_receipts
    where pos_receipts.operation = 'sale'
),

warehouse_totals as (
    select source_system, business_date, 'total' as cut, 'all' as cut_value,
        count(*) as order_count, sum(order_amount) as order_amount
    from shop_sales
    group by source_system, business_date
    union all
    select source_system, business_date, 'total', 'all', count(*), sum(order_amount)
    from erp_sales
    group by source_system, business_date
    union all
    select source_system, business_date, 'channel', channel_label, count(*), sum(order_amount)
    from erp_sales
    group by source_system, business_date, channel_label
    union all
    select source_system, business_date, 'total', 'all', count(*), sum(order_amount)
    from pos_sales
    group by source_system, business_date
    union all
    select source_system, business_date, 'store', coalesce(store_code, 'unknown store'), count(*), sum(order_amount)
    from pos_sales
    group by source_system, business_date, coalesce(store_code, 'unknown store')
),

latest_dump_days as (
    -- The business days the latest dump's control totals report (its own day and the restated day before),
    -- and always the latest dump's own business day: a control file that omits it is missing, not empty.
    select distinct control_totals.business_date
    from control_totals
    cross join as_of
    where control_totals.dump_date = as_of.latest_dump_date
    union
    select cast({{ dbt.dateadd('day', -1, 'as_of.latest_dump_date') }} as date)
    from as_of
),

expected_days as (
    -- Every system reports a total for every business day: a day any system or the warehouse knows, or the
    -- latest dump's, must be present on both sides for every system.
    select distinct business_date from control_totals
    union
    select distinct business_date from warehouse_totals
    union
    select business_date from latest_dump_days
),

source_systems as (
    select 'shop' as source_system
    union all
    select 'erp'
    union all
    select 'pos'
),

expected_totals as (
    select
        source_systems.source_system,
        expected_days.business_date,
        'total' as cut,
        'all' as cut_value,
    from expected_days
    cross join source_systems
),

row_keys as (
    select source_system, business_date, cut, cut_value from expected_totals
    union
    select source_system, business_date, cut, cut_value from control_totals
    union
    select source_system, business_date, cut, cut_value from warehouse_totals
),

compared as (
    select
        row_keys.source_system,
        row_keys.business_date,
        row_keys.cut,
        row_keys.cut_value,
        coalesce(control_totals.order_count, 0) as control_order_count,
        coalesce(warehouse_totals.order_count, 0) as warehouse_order_count,
        cast(coalesce(control_totals.order_amount, 0) as decimal(18, 2)) as control_order_amount,
        cast(coalesce(warehouse_totals.order_amount, 0) as decimal(18, 2)) as warehouse_order_amount,
        control_totals.order_count is null as is_missing_in_control,
        control_totals.dump_date as control_dump_date,
    from row_keys
    left join control_totals
        on row_keys.source_system = control_totals.source_system
        and row_keys.business_date = control_totals.business_date
        and row_keys.cut = control_totals.cut
        and row_keys.cut_value = control_totals.cut_value
    left join warehouse_totals
        on row_keys.source_system = warehouse_totals.source_system
        and row_keys.business_date = warehouse_totals.business_date
        and row_keys.cut = warehouse_totals.cut
        and row_keys.cut_value = warehouse_totals.cut_value
),

final as (
    select
        ---------- keys
        compared.source_system,
        compared.business_date,
        compared.cut,
        compared.cut_value,
        ---------- figures
        compared.control_order_count,
        compared.warehouse_order_count,
        compared.control_order_amount,
        compared.warehouse_order_amount,
        ---------- differences: warehouse - control; relative to control, 0 when both are 0, null when only
        ---------- the control is 0 (undefined: the gate fails it)
        compared.warehouse_order_count - compared.control_order_count as count_diff,
        compared.warehouse_order_amount - compared.control_order_amount as amount_diff,
        case
            when compared.control_order_count = 0 and compared.warehouse_order_count = 0 then 0.0
            when compared.control_order_count = 0 then null
            else cast(compared.warehouse_order_count - compared.control_order_count as double)
                / compared.control_order_count
        end as count_diff_rel,
        case
            when compared.control_order_amount = 0 and compared.warehouse_order_amount = 0 then 0.0
            when compared.control_order_amount = 0 then null
            else cast(compared.warehouse_order_amount - compared.control_order_amount as double)
                / cast(compared.control_order_amount as double)
        end as amount_diff_rel,
        ---------- booleans
        compared.control_order_count > 0 and compared.warehouse_order_count = 0 as is_missing_in_warehouse,
        compared.is_missing_in_control,
        compared.business_date in (select business_date from latest_dump_days) as is_in_latest_dump_window,
        ---------- dates
        compared.control_dump_date,
        as_of.latest_dump_date,
    from compared
    cross join as_of
)

select * from final
