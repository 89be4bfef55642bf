-- Per SKU, what the order lines say about it: how many unified order lines carry it, the units of completed
-- sales, the first and last date it sold (int_order_lines_unified), and the name the ERP lines and shop items
-- carried (the smallest, from stg_erp__sales_lines and stg_shop__order_items: the only name an unknown SKU
-- has). products joins these with the catalogs. A SKU only named on lines (an ERP document mirroring a web
-- order, a shop item without an order) has a row with order_line_count 0, for its name.
--
-- Incremental, by night rather than by SKU: a night in which no line changed since the last build (no unified
-- line stamped later, no line staged later, no SKU a unified line left: departed_values,
-- macros/departed_values.sql) writes nothing; any other night summarizes every SKU again and rewrites them all,
-- and a SKU no line carries any more gets a tombstone (no order_line_count) that the post-hook deletes.
-- Summarizing only the SKUs whose lines changed does not pay: a day's lines touch the popular SKUs, which carry
-- most lines (at M, the one-day night's 82k lines named 40% of the SKUs and 77% of all lines), and choosing
-- their lines cost more than aggregating all of them (docs/performance.md, section AP). Aggregating every line
-- cost products its whole 0.66 s query at M each night, the same with nothing new.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='sku',
    post_hook="{{ delete_tombstones('order_line_count') }}",
) }}

{%- set lines_changed = true %}
{%- if is_incremental() %}
{%- do require_incremental_columns(['order_line_count', 'changed_at']) %}
{%- set lines_changed = inputs_changed_since(
    stamped=[
        [ref('int_order_lines_unified'), 'changed_at'],
        [ref('stg_erp__sales_lines'), 'staged_at'],
        [ref('stg_shop__order_items'), 'staged_at'],
    ],
    departures_from=[ref('int_order_lines_unified')],
    since=changed_watermark(),
) %}
{%- endif %}

with

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

names_on_lines as (
    -- What the ERP and the shop called a SKU when they sold it (the tills send no names).
    select sku, min(product_name) as name_on_lines
    from (
        select sku, product_name from erp_sales_lines
        union all
        select sku, product_name from shop_order_items
    ) as named_lines
    where sku is not null
        and product_name is not null
    group by sku
),

summaries as (
    select
        coalesce(sales.sku, names_on_lines.sku) as sku,
        ---------- strings
        names_on_lines.name_on_lines,
        ---------- numerics
        coalesce(sales.order_line_count, 0) as order_line_count,
        sales.units_sold,
        ---------- dates
        sales.first_sold_date,
        sales.last_sold_date,
        ---------- build
        {{ build_stamp() }} as changed_at,
    from sales
    full outer join names_on_lines
        on sales.sku = names_on_lines.sku
),

final as (
    select * from summaries
    {{- union_tombstones_of_stored_keys_not_in('summaries', 'sku') }}
)

{% if lines_changed -%}
select * from final
{%- else -%}
-- No line changed since the last build: nothing to write.
select * from {{ this }} where false
{%- endif %}
