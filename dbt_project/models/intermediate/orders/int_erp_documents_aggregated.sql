-- 1C documents (one row per document) from their lines: every web, phone and store order the ERP holds,
-- including the web orders it mirrors from the shop. Reconciliation compares these with the ERP's totals.
with

sales_lines as (
    select * from {{ ref('stg_erp__sales_lines') }}
),

final as (
    select
        erp_document_number,
        min(shop_order_number) as shop_order_number,
        min(erp_counterparty_code) as erp_counterparty_code,
        min(loyalty_card_number) as loyalty_card_number,
        min(phone) as phone,
        min(store_code) as store_code,
        min(operation) as operation,
        min(document_status) as document_status,
        min(sales_channel) as sales_channel,
        min(document_at) as document_at,
        min(document_date) as document_date,
        count(*) as line_count,
        sum(line_amount) as document_amount
    from sales_lines
    group by erp_document_number
)

select * from final
