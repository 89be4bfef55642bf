-- The product dimension behind the `products` view: every SKU any source knows. The ERP nomenclature (wider:
-- offline-only goods such as floss sold beside toothbrushes), the web feed, and SKUs seen in order lines that
-- neither catalog lists: those are kept and flagged is_unknown_sku, never dropped. Attributes: the ERP's value
-- first (the master data), the web feed's otherwise, and for unknown SKUs the name the order lines carried.
--
-- Incremental by night, not by SKU: a night in which neither the lines nor the catalogs changed since the last
-- build writes nothing; any other night assembles every SKU again and rewrites them all (the next night's
-- watermark is the newest changed_at, so a build that assembled must stamp its rows even where no value moved),
-- and a SKU no source knows any more gets a tombstone (no catalog_status) that the post-hook deletes, recording
-- its key for the relationships test of the order lines (macros/deleted_keys.sql). The lines changed when a
-- unified line is stamped later (changed_at) or an ERP or shop line was staged later (staged_at); a unified line
-- deleted since leaves no stamp, but the lines carrying a SKU are then no longer as many as the stored rows count
-- (staging never deletes lines). The catalogs are full snapshots staged again every night, so each row keeps a
-- fingerprint of their values (catalogs_fingerprint), compared with tonight's. Assembling only the SKUs whose
-- lines changed does not pay: a day's lines touch the popular SKUs, which carry most lines (at M, the one-day
-- night's 82k lines named 40% of the SKUs and 77% of all lines), and choosing their lines cost more than
-- aggregating all of them (docs/performance.md, section AP).
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='sku',
    post_hook="{{ delete_tombstones('catalog_status') }}",
) }}

{#- The catalog values this model reads, one number: a sum of hashes, so row order does not change it. -#}
{%- set catalogs_fingerprint -%}
    (
        (
            select coalesce(sum(hash(sku, gtin, product_name, brand, color, product_group, price)), 0)::hugeint
            from {{ ref('stg_catalog__erp_products') }}
        ) + (
            select coalesce(sum(hash(
                sku, gtin, product_name, brand, color, category_path, availability, product_url, price, currency
            )), 0)::hugeint
            from {{ ref('stg_catalog__web_feed_products') }}
        )
    )
{%- endset %}

{%- set sources_changed = true %}
{%- if is_incremental() %}
{%- do require_incremental_columns(['catalogs_fingerprint', 'order_line_count', 'changed_at']) %}
{%- set sources_changed = inputs_changed_since(
    stamped=[
        [ref('int_order_lines_unified'), 'changed_at'],
        [ref('stg_erp__sales_lines'), 'staged_at'],
        [ref('stg_shop__order_items'), 'staged_at'],
    ],
    since=changed_watermark(),
    also_when="(select count(sku) from " ~ ref('int_order_lines_unified') ~ ")"
        ~ " <> (select coalesce(sum(order_line_count), 0) from " ~ this ~ ")"
        ~ " or exists (select 1 from " ~ this ~ " where catalogs_fingerprint <> " ~ catalogs_fingerprint ~ ")",
) %}
{%- endif %}

with

web_feed_products as (
    select * from {{ ref('stg_catalog__web_feed_products') }}
),

erp_products as (
    select * from {{ ref('stg_catalog__erp_products') }}
),

order_lines as (
    select * from {{ ref('int_order_lines_unified') }}
),

erp_sales_lines as (
    select * from {{ ref('stg_erp__sales_lines') }}
),

shop_order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

sales as (
    select
        sku,
        count(*) as order_line_count,
        sum(quantity) filter (where order_type = 'sale' and order_status = 'completed') as units_sold,
        min(ordered_date) as first_sold_date,
        max(ordered_date) as last_sold_date,
    from order_lines
    where sku is not null
    group by sku
),

skus as (
    -- The SKUs sold taken from the sales, already grouped by SKU: a union with the order lines themselves
    -- grouped their millions of rows a second time (the model's query 0.66-0.69 s -> 0.55-0.57 s alone at M).
    select sku from web_feed_products
    union
    select sku from erp_products
    union
    select sku from sales
),

named_in_a_catalog as (
    select sku from erp_products where product_name is not null
    union
    select sku from web_feed_products where product_name is not null
),

names_on_lines as (
    -- What the ERP and the shop called a SKU when they sold it (the tills send no names): the only name an
    -- unknown SKU has. Looked up only for SKUs no catalog names (the final coalesce would never read the others).
    select sku, min(product_name) as product_name
    from (
        select sku, product_name from erp_sales_lines
        union all
        select sku, product_name from shop_order_items
    ) as named_lines
    anti join named_in_a_catalog using (sku)
    where product_name is not null
    group by sku
),

assembled as (
    select
        ---------- ids
        skus.sku,
        coalesce(erp_products.gtin, web_feed_products.gtin) as gtin,
        ---------- strings
        coalesce(erp_products.product_name, web_feed_products.product_name, names_on_lines.product_name) as product_name,
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
        coalesce(sales.order_line_count, 0) as order_line_count,
        coalesce(sales.units_sold, 0) as units_sold,
        ---------- booleans
        web_feed_products.sku is not null as is_in_web_feed,
        erp_products.sku is not null as is_in_erp,
        erp_products.sku is not null and web_feed_products.sku is null as is_offline_only,
        erp_products.sku is null and web_feed_products.sku is null as is_unknown_sku,
        ---------- dates
        sales.first_sold_date,
        sales.last_sold_date,
        ---------- what the row was assembled from, and when
        {{ catalogs_fingerprint }} as catalogs_fingerprint,
        {{ build_stamp() }} as changed_at,
    from skus
    left join erp_products
        on skus.sku = erp_products.sku
    left join web_feed_products
        on skus.sku = web_feed_products.sku
    left join sales
        on skus.sku = sales.sku
    left join names_on_lines
        on skus.sku = names_on_lines.sku
),

final as (
    select * from assembled
    {{- union_tombstones_of_stored_keys_not_in('assembled', 'sku') }}
)

{% if sources_changed -%}
select * from final
{%- else -%}
-- Neither the lines nor the catalogs changed since the last build: nothing to write.
select * from {{ this }} where false
{%- endif %}
