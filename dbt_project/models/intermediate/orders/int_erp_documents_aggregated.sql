-- 1C documents (one row per document) from their lines: every web, phone and store order the ERP holds,
-- including the web orders it mirrors from the shop. Reconciliation compares these with the ERP's totals.
--
-- Incremental: a night re-aggregates only the documents with a line staged since the last build (staging
-- never drops a line, so every other document is unchanged). written_at stamps the rows a build writes: the
-- tests check those written since they passed.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'written_at'},
    unique_key='erp_document_number',
) }}

with

sales_lines as (
    select * from {{ ref('stg_erp__sales_lines') }}
    {%- if is_incremental() %}
    {%- do require_incremental_columns(['written_at']) %}
    where erp_document_number in (
        select erp_document_number from {{ ref('stg_erp__sales_lines') }} where loaded_at > {{ loaded_watermark() }}
    )
    {%- endif %}
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
        sum(line_amount) as document_amount,
        max(loaded_at) as loaded_at,
        {{ build_stamp() }} as written_at
    from sales_lines
    group by erp_document_number
)

select * from final
