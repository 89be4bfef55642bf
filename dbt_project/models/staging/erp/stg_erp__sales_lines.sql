{{ config(materialized='incremental', unique_key=['erp_document_number', 'line_number']) }}

-- 1C sales documents, one row per document line, with the Russian headers renamed and values translated.
with

source as {{ cte_not_materialized() }} (
    select * from {{ source('erp', 'sales') }}
    {{ only_new_deliveries() }}
),

renamed as (
    select
        ---------- ids
        trim("Номер документа") as erp_document_number,
        "Номер строки" as line_number,
        nullif(trim("Номер заказа сайта"), '') as shop_order_number,
        nullif(trim("Код контрагента"), '') as erp_counterparty_code,
        nullif(trim("Дисконтная карта"), '') as loyalty_card_number,
        nullif(trim("Магазин"), '') as store_code,
        trim("Артикул") as sku,
        ---------- strings
        case trim("Вид операции") when 'Продажа' then 'sale' when 'Возврат' then 'return' end as operation,
        case trim("Статус") when 'Проведен' then 'posted' when 'Отменен' then 'cancelled' end as document_status,
        case trim("Канал продаж")
            when 'Интернет-магазин' then 'web'
            when 'Телефон' then 'phone'
            when 'Магазин' then 'store'
        end as sales_channel,
        "Вид операции" as operation_as_delivered,
        "Канал продаж" as sales_channel_as_delivered,
        nullif(trim("Контрагент"), '') as counterparty_name,
        {{ normalize_phone('"Телефон"') }} as phone,
        "Телефон" as phone_as_delivered,
        nullif(trim("Номенклатура"), '') as product_name,
        ---------- numerics
        "Количество" as quantity,
        "Цена" as unit_price,
        "Сумма" as line_amount,
        ---------- timestamps
        "Дата документа" as document_at,
        ---------- dates
        cast("Дата документа" as date) as document_date,
        ---------- lineage
        {{ lineage_columns() }}
    from source
),

deduplicated as (
    {{ deduplicate_incrementally('renamed', ['erp_document_number', 'line_number'], latest_delivery_first()) }}
)

select * from deduplicated
