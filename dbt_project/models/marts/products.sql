-- The product dimension: every SKU any source knows. The ERP nomenclature (wider: offline-only goods such as
-- floss sold beside toothbrushes), the web feed, and SKUs seen in order lines that neither catalog lists:
-- those are kept and flagged is_unknown_sku, never dropped. Attributes: the ERP's value first (the master
-- data), the web feed's otherwise, and for unknown SKUs the name the order lines carried.
with

web_feed_products as (
    select * from {{ ref('stg_catalog__web_feed_products') }}
),

erp_products as (
    select * from {{ ref('stg_catalog__erp_products') }}
),

product_lines as (
    -- Per SKU: its order lines' counts and dates, and the name the lines carried (summarized incrementally).
    select * from {{ ref('int_product_lines_summarized') }}
),

sold_skus as (
    -- A SKU only named on lines (no order line) is a product only when a catalog lists it.
    select sku from product_lines where order_line_count > 0
),

skus as (
    select sku from web_feed_products
    union
    select sku from erp_products
    union
    select sku from sold_skus
),

final as (
    select
        ---------- ids
        skus.sku,
        coalesce(erp_products.gtin, web_feed_products.gtin) as gtin,
        ---------- strings
        coalesce(erp_products.product_name, web_feed_products.product_name, product_lines.name_on_lines) as product_name,
        coalesce(erp_products.brand, web_feed_products.brand) as brand,
        coalesce(erp_products.color, web_feed_products.color) as color,
        erp_products.product_group,
        web_feed_products.category_path,
        web_feed_products.availability,
        web_feed_products.product_url,
        case
            when erp_products.sku is not null and web_feed_products.sku is not null then 'erp_and_web'
            when erp_products.sku is not null then 'erp_only'
            when web_feed_products.sku is not null then 'web_only'
            else 'unknown'
        end as catalog_status,
        ---------- numerics
        erp_products.price as erp_price,
        web_feed_products.price as web_price,
        web_feed_products.currency as web_currency,
        coalesce(product_lines.order_line_count, 0) as order_line_count,
        coalesce(product_lines.units_sold, 0) as units_sold,
        ---------- booleans
        web_feed_products.sku is not null as is_in_web_feed,
        erp_products.sku is not null as is_in_erp,
        erp_products.sku is not null and web_feed_products.sku is null as is_offline_only,
        erp_products.sku is null and web_feed_products.sku is null as is_unknown_sku,
        ---------- dates
        product_lines.first_sold_date,
        product_lines.last_sold_date,
    from skus
    left join erp_products
        on skus.sku = erp_products.sku
    left join web_feed_products
        on skus.sku = web_feed_products.sku
    left join product_lines
        on skus.sku = product_lines.sku
)

select * from final
