-- The as-of date of this build, one row: var('as_of_date') when an analyst sets it, otherwise the latest dump
-- date in the lake. A dump dated D carries business day D - 1, so on the default a purchase made yesterday
-- is 1 day old. Read it through the as_of_date() macro, never directly.
with

control_totals as (
    select * from {{ ref('stg_control__totals') }}
),

web_feed_products as (
    select * from {{ ref('stg_catalog__web_feed_products') }}
),

erp_products as (
    select * from {{ ref('stg_catalog__erp_products') }}
),

dump_dates as (
    -- Small tables every dump delivers: cheap to scan, and together they see the latest dump.
    select max(dump_date) as dump_date from control_totals
    union all
    select max(dump_date) from web_feed_products
    union all
    select max(dump_date) from erp_products
),

final as (
    select
        {%- if var('as_of_date', none) %}
        cast('{{ var("as_of_date") }}' as date) as as_of_date,
        'var as_of_date' as as_of_date_source,
        {%- else %}
        cast(max(dump_date) as date) as as_of_date,
        'latest dump date' as as_of_date_source,
        {%- endif %}
        cast(max(dump_date) as date) as latest_dump_date,
    from dump_dates
)

select * from final
