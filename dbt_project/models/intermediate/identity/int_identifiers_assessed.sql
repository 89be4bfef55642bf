-- One row per distinct identifier: when it was first seen, how many records carry it, and whether it may
-- link records. Placeholders (blocked_identifiers seed) and identifiers shared by more distinct people
-- than identity_rules.max_group_size allows stop linking, so one shared value cannot merge strangers.
with

observations as (
    select * from {{ ref('int_identifiers_observed') }}
),

rules as (
    select * from {{ ref('identity_rules') }}
),

blocked_values as (
    select * from {{ ref('blocked_identifiers') }}
),

co_occurrences as (
    -- For each identifier, the distinct identifiers of each counted type that appear in the same records.
    select
        observations.identifier_key,
        linked.identifier_type as linked_type,
        count(distinct linked.identifier_value) as linked_values
    from observations
    inner join observations as linked
        on observations.record_id = linked.record_id
        and observations.identifier_type <> linked.identifier_type
    inner join rules as linked_rules
        on linked.identifier_type = linked_rules.identifier_type
    where linked_rules.counts_toward_group_size
    group by observations.identifier_key, linked.identifier_type
),

group_sizes as (
    select
        identifier_key,
        max(linked_values) as group_size,
        arg_max(linked_type, linked_values) as largest_linked_type
    from co_occurrences
    group by identifier_key
),

identifiers as (
    select
        identifier_key,
        min(identifier_type) as identifier_type,
        min(identifier_value) as identifier_value,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(distinct record_id) as record_count
    from observations
    group by identifier_key
),

assessed as (
    select
        identifiers.*,
        coalesce(group_sizes.group_size, 0) as group_size,
        group_sizes.largest_linked_type,
        rules.max_group_size,
        rules.priority,
        case
            when rules.identifier_type is null then 'no rule for this identifier type in identity_rules'
            when not rules.is_linkable then 'identifier type is not linkable (identity_rules)'
            when blocked_values.identifier_value is not null then 'blocked value: ' || blocked_values.reason
            when coalesce(group_sizes.group_size, 0) > rules.max_group_size
                then 'shared by ' || group_sizes.group_size || ' distinct ' || group_sizes.largest_linked_type
                    || ' values (max_group_size ' || rules.max_group_size || ')'
        end as block_reason
    from identifiers
    left join rules
        on identifiers.identifier_type = rules.identifier_type
    left join blocked_values
        on identifiers.identifier_type = blocked_values.identifier_type
        and identifiers.identifier_value = blocked_values.identifier_value
    left join group_sizes
        on identifiers.identifier_key = group_sizes.identifier_key
),

final as (
    select
        *,
        block_reason is null as is_linking
    from assessed
)

select * from final
