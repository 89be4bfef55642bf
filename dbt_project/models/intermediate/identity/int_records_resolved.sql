-- The customer_id behind every source record that carries a linking identifier. A record's linking
-- identifiers all sit in one component (the record itself links them), so the customer is unique.
-- Records whose only identifiers are blocked (a walk-in buyer typed with the store's phone) stay anonymous.
--
-- Incremental: a night re-resolves the records int_identifiers_observed_with_removals re-derived or marked
-- (an identifier removed) and the records of the identifiers whose customer_id changed or that stopped
-- linking (int_identifiers_resolved.changed_at, int_identifiers_assessed.linking_changed_at). A record left
-- without a linking identifier, or that no longer names anyone (only removal markers left), leaves a tombstone
-- (customer_id null) that removes its stored row; the post-hook deletes the tombstones. The customer a record
-- leaves (re-resolved to another, or a tombstone) is recorded in departed_values (departures_of): the profiles
-- derive that customer again from it (macros/departed_values.sql).
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at', 'departures_of': 'customer_id'},
    unique_key='record_id',
    post_hook="{{ delete_tombstones('customer_id') }}",
) }}

with

observations as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identifiers_observed') }}
),

observations_with_removals as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identifiers_observed_with_removals') }}
),

resolved as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identifiers_resolved') }}
),

assessed as (
    select * from {{ ref('int_identifiers_assessed') }}
),

{% if is_incremental() %}
records_to_resolve as (
    -- Re-derived since, or dropped an identifier (its removal markers): a record that went is among them.
    select record_id
    from observations_with_removals
    where changed_at > {{ changed_watermark() }}
    union
    {{ records_carrying('observations', identifiers_moved_since_last_build('resolved', 'assessed')) }}
    {{- records_gone_after_a_rebuild('observations') }}
),

observations_to_resolve as (
    select * from observations semi join records_to_resolve using (record_id)
),
{% else %}
observations_to_resolve as (
    select * from observations
),
{% endif %}

record_customers as (
    -- One row per (record, customer); more than one customer per record would be a bug in the components
    -- (tests/identity/assert_records_resolve_to_one_customer.sql counts them). Counting these pairs is
    -- count(distinct customer_id) in two aggregations, where DuckDB ran a distinct count as three and a join
    -- (22 of the model's 40 CPU-seconds at M).
    select
        observations.record_id,
        resolved.customer_id,
        min(observations.record_source) as record_source
    from observations_to_resolve as observations
    inner join resolved
        on observations.identifier_key = resolved.identifier_key
    group by observations.record_id, resolved.customer_id
),

records as (
    select
        record_id,
        min(record_source) as record_source,
        min(customer_id) as customer_id,
        count(customer_id) as customer_count
    from record_customers
    group by record_id
),

final as (
    select
        *,
        {{ build_stamp() }} as changed_at
    from records
    {%- if is_incremental() %}
    union all by name
    select record_id, {{ build_stamp() }} as changed_at
    from records_to_resolve
    anti join records using (record_id)
    {%- endif %}
)

select * from final
