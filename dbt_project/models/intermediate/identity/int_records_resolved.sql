-- The customer_id behind every source record that carries a linking identifier. A record's linking
-- identifiers all sit in one component (the record itself links them), so the customer is unique.
-- Records whose only identifiers are blocked (a walk-in buyer typed with the store's phone) stay anonymous.
with

observations as (
    select * from {{ ref('int_identifiers_observed') }}
),

resolved as (
    select * from {{ ref('int_identifiers_resolved') }}
),

final as (
    select
        observations.record_id,
        min(observations.record_source) as record_source,
        min(resolved.customer_id) as customer_id,
        count(distinct resolved.customer_id) as customer_count
    from observations
    inner join resolved
        on observations.identifier_key = resolved.identifier_key
    group by observations.record_id
)

select * from final
