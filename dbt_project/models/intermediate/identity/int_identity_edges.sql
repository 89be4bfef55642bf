-- Links between identifiers that may link (see int_identifiers_assessed): within each record, every
-- linking identifier is tied to the record's highest-priority one. A record left with a single linking
-- identifier still contributes that identifier as a node (a self-link).
with

observations as (
    select * from {{ ref('int_identifiers_observed') }}
),

assessed as (
    select * from {{ ref('int_identifiers_assessed') }}
),

linking_observations as (
    select distinct
        observations.record_id,
        observations.identifier_key,
        assessed.priority
    from observations
    inner join assessed
        on observations.identifier_key = assessed.identifier_key
    where assessed.is_linking
),

record_hubs as (
    select
        record_id,
        arg_min(identifier_key, [priority::varchar, identifier_key]) as hub_key
    from linking_observations
    group by record_id
),

final as (
    select distinct
        record_hubs.hub_key as node_a,
        linking_observations.identifier_key as node_b
    from linking_observations
    inner join record_hubs
        on linking_observations.record_id = record_hubs.record_id
)

select * from final
