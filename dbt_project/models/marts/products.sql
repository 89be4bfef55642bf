-- The product dimension: every SKU any source knows (the ERP nomenclature, the web feed, and SKUs sold that
-- neither catalog lists, flagged is_unknown_sku). A view over int_products_assembled, which a night assembles
-- again only when the order lines or the catalogs changed; its key is tested there.
{{ config(materialized='view') }}

with

products_assembled as (
    select * from {{ ref('int_products_assembled') }}
),

final as (
    select
        ---------- ids
        sku,
        gtin,
        ---------- strings
        product_name,
        brand,
        color,
        product_group,
        category_path,
        availability,
        product_url,
        catalog_status,
        ---------- numerics
        erp_price,
        web_price,
        web_currency,
        order_line_count,
        units_sold,
        ---------- booleans
        is_in_web_feed,
        is_in_erp,
        is_offline_only,
        is_unknown_sku,
        ---------- dates
        first_sold_date,
        last_sold_date,
    from products_assembled
)

select * from final
