-- Incremental: the events delivered since, merged with the stored versions of the same event ids.
--
-- earlier_logins: every (device, account) login an earlier version of the event carried and a re-delivery
-- replaced (a login corrected to another account, or forgotten). A web login record of identity resolution is
-- a (device, account) pair derived from all its login events; when an event leaves a pair, the pair must be
-- derived again, and once the stored version is replaced nothing else remembers it. So the observations derive
-- only the pairs of the events staged since they last ran and these earlier pairs, instead of every pair from
-- every login event each night (docs/performance.md, section AB). The list only grows: a consumer that missed
-- a night still finds every pair it last saw.
{{ config(materialized='incremental', unique_key='event_id') }}

with

source as {{ cte_not_materialized() }} (
    select * from {{ source('web', 'events') }}
    {{ only_new_deliveries() }}
),

renamed as (
    select
        ---------- ids
        event_id,
        device_id,
        user_id as shop_user_id,
        session_id,
        nullif(trim(product_id), '') as sku,
        order_id as shop_order_id,
        ---------- strings
        lower(trim(event_type)) as event_type,
        page_url,
        ---------- numerics
        price as unit_price,
        quantity,
        ---------- timestamps
        occurred_at,
        ---------- lineage
        {{ lineage_columns() }}
    from source
),

{%- if is_incremental() %}
{%- do require_incremental_columns(['earlier_logins']) %}

stored_versions as {{ cte_materialized() }} (
    -- The stored rows of tonight's event ids: they compete with tonight's rows, and tell which login a winner
    -- replaced. Tonight's rows have no earlier_logins: the union with these (by name) gives them a null one.
    {{ stored_rows_of_keys_in('renamed', 'event_id') }}
),

{%- endif %}

deduplicated as (
    {{ deduplicate_incrementally('renamed', 'event_id', latest_delivery_first(), stored_rows='stored_versions') }}
),

{%- if is_incremental() %}

final as (
    select
        deduplicated.* replace (
            case
                when stored.shop_user_id is not null
                    and (deduplicated.shop_user_id is distinct from stored.shop_user_id
                        or deduplicated.device_id is distinct from stored.device_id)
                    then list_sort(list_distinct(list_append(
                        coalesce(stored.earlier_logins, []),
                        {'device_id': stored.device_id, 'shop_user_id': stored.shop_user_id}
                    )))
                else stored.earlier_logins
            end as earlier_logins
        )
    from deduplicated
    left join stored_versions as stored
        on deduplicated.event_id = stored.event_id
)

{%- else %}

final as (
    -- Added after the deduplication, which moves every column of 30M rows through its anti join: a list
    -- column there cost the full build about 1 s of its 20 s at M, here about 0.5 s (docs/performance.md,
    -- section AB).
    select
        *,
        cast(null as struct(device_id varchar, shop_user_id bigint)[]) as earlier_logins
    from deduplicated
)

{%- endif %}

select * from final
