-- Purchase aggregates per customer over every channel (shop, ERP phone and store orders, tills), up to and
-- including the as-of date. A purchase is a completed sale (int_orders_unified.is_purchase); net revenue
-- also subtracts returns, and cancelled or returned orders count nothing. online = web and phone orders,
-- offline = store orders and tills (int_orders_unified.channel_group).
--
-- Incremental: a night summarizes again only the customers whose orders may have changed, found from change
-- lists: the customers of the orders int_orders_unified rebuilt since (new or changed, or moved to them), the
-- customers orders left since (moved away, left anonymous, or deleted: the record of departed values,
-- macros/departed_values.sql), and the customers of the orders the as-of date let in or out, or moved across
-- the start of the two-year window, since the as-of date of the last build (recorded by the post-hook
-- record_as_of_date, macros/as_of_date.sql). A customer left without orders up to the as-of date (merged away,
-- or the as-of date moved back) leaves a tombstone that the post-hook deletes.
-- When either record does not reach back to the last build (the first night after an upgrade, a full rebuild
-- of the orders, a month without a build), the night compares instead a fingerprint of every customer's orders
-- with the one each summary keeps (orders_fingerprint: the orders up to the as-of date, the values of theirs it
-- reads, and which fall in the two-year window). That comparison read every order every night (0.6 s at M);
-- the change lists read three narrow columns (docs/performance.md, section AQ).
-- Every summary written carries the build's stamp (changed_at): int_customers_assembled re-assembles the
-- customers whose inputs were stamped since it ran.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at', 'departures_of': 'customer_id'},
    unique_key='customer_id',
    post_hook=["{{ delete_tombstones('orders_fingerprint') }}", "{{ record_as_of_date() }}"],
) }}

{%- set two_years_back = as_of_date() ~ ' - interval 2 year' %}
{#- What a summary is computed from, one number per customer: each order's id and the values the summary reads,
    and whether it falls in the two-year window. A sum of hashes: neither row order nor the build that wrote the
    orders changes it. #}
{%- set orders_fingerprint -%}
    sum(hash(
        order_id, ordered_at, is_purchase, channel_group, net_amount, source_system, sales_channel,
        ordered_date >= {{ two_years_back }}
    ))::hugeint
{%- endset %}

{%- set by_change_lists = false %}

with

orders as {{ cte_not_materialized() }} (
    select * from {{ ref('int_orders_unified') }}
),

as_of_orders as {% if is_incremental() %}{{ cte_not_materialized() }}{% endif %} (
    select *
    from orders
    where customer_id is not null
        and ordered_date <= {{ as_of_date() }}
),

{%- if is_incremental() %}
{%- do require_incremental_columns(['orders_fingerprint', 'changed_at']) %}
{%- set last_build = last_build_as_of() %}
{%- set departed_customers = values_departed_since(ref('int_orders_unified'), last_build.built_at)
    if last_build else none %}
{%- set by_change_lists = departed_customers is not none %}
{%- if by_change_lists %}

customers_to_summarize as (
    -- Orders rebuilt since the last build (which read those stamped up to it): new, changed, or moved to their
    -- customer.
    select customer_id
    from orders
    where changed_at > {{ last_build.built_at }}
        and customer_id is not null
    union
    -- The customers orders left since: moved to another customer, left anonymous, or deleted.
    select departed_value from ({{ departed_customers }}) as departed
    union
    -- Orders the as-of date let in or out, or moved across the start of the two-year window.
    select customer_id
    from orders
    where customer_id is not null
        and (
            (ordered_date <= {{ as_of_date() }}) <> (ordered_date <= {{ last_build.as_of_date }})
            or (ordered_date >= {{ two_years_back }})
                <> (ordered_date >= {{ last_build.as_of_date }} - interval 2 year)
        )
),

{%- else %}

fingerprints as (
    select
        customer_id,
        {{ orders_fingerprint }} as orders_fingerprint,
    from as_of_orders
    group by customer_id
),

customers_to_summarize as (
    {{ keys_whose_fingerprint_changed('fingerprints', 'customer_id', ['orders_fingerprint']) }}
),
{%- endif %}

orders_to_summarize as (
    select * from as_of_orders semi join customers_to_summarize using (customer_id)
),
{%- else %}

orders_to_summarize as (
    select * from as_of_orders
),
{%- endif %}

summaries as (
    select
        customer_id,
        ---------- dates
        min(ordered_date) filter (where is_purchase) as first_order_date,
        max(ordered_date) filter (where is_purchase) as last_order_date,
        ---------- counts
        count(*) filter (where is_purchase) as order_count,
        count(*) filter (where is_purchase and channel_group = 'online') as online_order_count,
        count(*) filter (where is_purchase and channel_group = 'offline') as offline_order_count,
        count(*) filter (where is_purchase and ordered_date >= {{ two_years_back }}) as order_count_2y,
        ---------- revenue (money: two decimals)
        cast(coalesce(sum(net_amount), 0) as decimal(18, 2)) as net_revenue,
        cast(coalesce(sum(net_amount) filter (where channel_group = 'online'), 0) as decimal(18, 2)) as online_net_revenue,
        cast(coalesce(sum(net_amount) filter (where channel_group = 'offline'), 0) as decimal(18, 2)) as offline_net_revenue,
        cast(
            coalesce(sum(net_amount) filter (where ordered_date >= {{ two_years_back }}), 0)
            as decimal(18, 2)
        ) as net_revenue_2y,
        ---------- where they buy
        list(distinct source_system order by source_system) filter (where is_purchase) as purchase_source_systems,
        arg_max(sales_channel, strftime(ordered_at, '%Y-%m-%d %H:%M:%S') || order_id) filter (where is_purchase) as last_order_sales_channel,
        ---------- what the summary was computed from
        {{ orders_fingerprint }} as orders_fingerprint,
        {{ build_stamp() }} as changed_at,
    from orders_to_summarize
    group by customer_id
),

final as (
    select * from summaries
    -- No order up to the as-of date any more: a tombstone (no fingerprint) replaces the stored summary. Found among
    -- the customers summarized again, or else among every customer's fingerprint.
    {{- union_tombstones_of_stored_keys_not_in(
        'summaries' if by_change_lists else 'fingerprints', 'customer_id',
        among='customers_to_summarize' if by_change_lists else none) }}
)

select * from final
