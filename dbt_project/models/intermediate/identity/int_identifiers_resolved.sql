-- The customer_id of every linking identifier.
--
-- A component's customer_id is a hash of its anchor: the identifier seen first (ties: smallest key). New
-- data only adds identifiers seen later, so a person keeps their customer_id night after night; when two
-- people's components merge, the merged customer keeps the older one's id. Changes are logged in
-- identity_change_log.
with

clustered as (
    select * from {{ ref('int_identifiers_clustered') }}
),

assessed as (
    select * from {{ ref('int_identifiers_assessed') }}
),

identifiers as (
    select
        clustered.node as identifier_key,
        clustered.component,
        assessed.identifier_type,
        assessed.identifier_value,
        assessed.first_seen_at
    from clustered
    inner join assessed
        on clustered.node = assessed.identifier_key
),

anchors as (
    select
        component,
        arg_min(identifier_key, [strftime(first_seen_at, '%Y-%m-%d %H:%M:%S'), identifier_key]) as anchor_key
    from identifiers
    group by component
),

final as (
    select
        identifiers.identifier_key,
        identifiers.identifier_type,
        identifiers.identifier_value,
        'cus_' || left(md5(anchors.anchor_key), 16) as customer_id,
        anchors.anchor_key,
        identifiers.first_seen_at
    from identifiers
    inner join anchors
        on identifiers.component = anchors.component
)

select * from final
