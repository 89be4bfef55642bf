-- Later dumps restate recent days: the latest delivery of each (system, day, cut) is the system's figure.
with

source as {{ cte_not_materialized() }} (
    select * from {{ source('control', 'totals') }}
),

renamed as (
    select
        ---------- ids
        lower(trim(source_system)) as source_system,
        lower(trim(cut)) as cut,
        coalesce(nullif(trim(cut_value), ''), 'all') as cut_value,
        ---------- numerics
        order_count,
        order_amount,
        ---------- dates
        business_date,
        ---------- lineage
        {{ lineage_columns() }}
    from source
),

deduplicated as (
    {{ deduplicate('renamed', 'source_system, business_date, cut, cut_value', latest_delivery_first()) }}
)

select * from deduplicated
