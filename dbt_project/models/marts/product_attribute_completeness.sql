-- How complete each product attribute is, so a campaign that needs one (a screen diagonal, a brand, a
-- photo link) finds the gap before launch, not after. One row per attribute and scope: all products, and
-- the products sold in the last 90 days (the ones campaigns actually feature).
{%- set attributes = [
    'product_name', 'brand', 'gtin', 'color', 'product_group', 'category_path',
    'availability', 'product_url', 'erp_price', 'web_price',
] %}
with

products as (
    select * from {{ ref('products') }}
),

scoped_products as (
    select *, 'all_products' as scope from products
    union all
    select *, 'sold_last_90_days' as scope from products
    where last_sold_date >= {{ as_of_date() }} - 90
),

measured as (
    {%- for attribute in attributes %}
    select
        '{{ attribute }}' as attribute,
        scope,
        count(*) as products,
        count({{ attribute }}) as filled,
    from scoped_products
    group by scope
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

final as (
    select
        attribute,
        scope,
        products,
        filled,
        products - filled as missing,
        case when products > 0 then round(filled / products, 4) end as share,
    from measured
)

select * from final
