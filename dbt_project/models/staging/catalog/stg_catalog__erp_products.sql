-- The 1C nomenclature, a full snapshot every day: the latest dump is the catalog.
with

source as {{ cte_not_materialized() }} (
    select * from {{ source('catalog', 'erp_nomenclature') }}
),

renamed as (
    select
        ---------- ids
        trim("Артикул") as sku,
        nullif(trim("Штрихкод"), '') as gtin,
        ---------- strings
        nullif(trim("Наименование"), '') as product_name,
        nullif(trim("Группа"), '') as product_group,
        nullif(trim("Бренд"), '') as brand,
        nullif(trim("Цвет"), '') as color,
        ---------- numerics
        "Цена" as price,
        ---------- lineage
        {{ lineage_columns() }}
    from source
    where _dump_date = (select max(_dump_date) from source)
),

deduplicated as (
    {{ deduplicate('renamed', 'sku', latest_delivery_first()) }}
)

select * from deduplicated
