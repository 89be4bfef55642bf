-- The web feed is a full snapshot every day: the latest dump is the catalog.
with

source as {{ cte_not_materialized() }} (
    select * from {{ source('catalog', 'web_feed') }}
),

renamed as (
    select
        ---------- ids
        trim(id) as sku,
        nullif(trim(gtin), '') as gtin,
        ---------- strings
        nullif(trim(title), '') as product_name,
        nullif(trim(brand), '') as brand,
        nullif(trim(color), '') as color,
        nullif(trim(product_type), '') as category_path,
        nullif(trim(availability), '') as availability,
        link as product_url,
        price as price_as_delivered,
        -- Merchant-format price "1299.00 RUB": amount then ISO currency.
        nullif(trim(regexp_extract(price, '[A-Z]{3}')), '') as currency,
        ---------- numerics
        {{ try_cast("regexp_extract(price, '[0-9]+(\\.[0-9]+)?')", 'decimal(18, 2)') }} as price,
        ---------- lineage
        {{ lineage_columns() }}
    from source
    where _dump_date = (select max(_dump_date) from source)
),

deduplicated as (
    {{ deduplicate('renamed', 'sku', latest_delivery_first()) }}
)

select * from deduplicated
