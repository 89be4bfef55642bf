-- One row per distinct identifier: when it was first seen, how many records carry it, and whether it may
-- link records. It may not when it is a known placeholder (seed blocked_identifiers), does not look like a
-- personal identifier (identity_rules.value_pattern: a store's landline is not a person's phone), or is
-- shared: it appears with more distinct values of another identifier type than one person has
-- (identity_group_limits per pair of types, else identity_rules.max_group_size). One shared value can then
-- never merge strangers; every such identifier is reported in identity_blocked_identifiers.
--
-- Incremental: an identifier's row depends only on the records that carry it. A night re-assesses the
-- identifiers of the pairs int_identifiers_observed_with_removals wrote since the last build: the identifiers
-- of the records it re-derived (their co-occurrences may have changed) and those a record no longer carries
-- (the pairs marked removed); or all of them when the identity seeds changed (rules_version). After a full
-- rebuild of the observations, which has no removal markers, the record count and the sum of the records'
-- hashes tell which identifiers' records changed. An identifier no longer observed leaves a tombstone
-- (identifier_type null), deleted after the insert.
-- linking_changed_at is when is_linking or priority last changed: int_identity_edges re-derives the records of
-- those identifiers only.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at'},
    unique_key='identifier_key',
    post_hook="{{ delete_tombstones('identifier_type') }}",
) }}

with

observations as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identifiers_observed') }}
),

observations_with_removals as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identifiers_observed_with_removals') }}
),

rules as (
    select * from {{ ref('identity_rules') }}
),

group_limits as (
    select * from {{ ref('identity_group_limits') }}
),

blocked_values as (
    select * from {{ ref('blocked_identifiers') }}
),

rules_version as (
    -- A fingerprint of the three identity seeds: when an analyst edits them, every identifier is re-assessed.
    select hash(
        (select string_agg(rules::varchar, '|' order by rules::varchar) from rules),
        (select string_agg(group_limits::varchar, '|' order by group_limits::varchar) from group_limits),
        (select string_agg(blocked_values::varchar, '|' order by blocked_values::varchar) from blocked_values)
    ) as rules_version
),

{% if is_incremental() %}
{%- do require_incremental_columns(['record_hash_sum', 'rules_version', 'linking_changed_at']) %}
{%- if rebuilt_since_last_build(ref('int_identifiers_observed_with_removals')) %}
record_fingerprints as (
    select
        identifier_key,
        count(*) as record_count,
        sum(hash(record_id)) as record_hash_sum
    from observations
    group by identifier_key
),

fingerprint_changes as (
    -- Identifiers that are new, gone, or carried by a different set of records than last night.
    select
        record_fingerprints.identifier_key as current_key,
        previous.identifier_key as previous_key
    from record_fingerprints
    full outer join {{ this }} as previous
        on record_fingerprints.identifier_key = previous.identifier_key
    where previous.identifier_key is null
        or record_fingerprints.identifier_key is null
        or record_fingerprints.record_count <> previous.record_count
        or record_fingerprints.record_hash_sum <> previous.record_hash_sum
        or previous.rules_version <> (select rules_version from rules_version)
),

identifiers_to_assess as (
    -- The observations were rebuilt in full since, without their removal markers: which identifiers lost a
    -- record, or every record, only their fingerprints tell.
    select identifier_key from observations where changed_at > {{ changed_watermark() }}
    union
    select coalesce(current_key, previous_key) from fingerprint_changes
),
{%- else %}
identifiers_to_assess as (
    -- The identifiers of the pairs written since the last build, the pairs marked removed included (a record
    -- that dropped an identifier, or went, changed that identifier's records); and every identifier when the
    -- identity seeds changed.
    select identifier_key from observations_with_removals where changed_at > {{ changed_watermark() }}
    union
    select identifier_key from {{ this }} where rules_version <> (select rules_version from rules_version)
),
{%- endif %}

observations_to_assess as {{ cte_materialized() }} (
    select * from observations semi join identifiers_to_assess using (identifier_key)
),

linked_observations as {{ cte_materialized() }} (
    -- The other identifiers of the records to assess. Both lists materialized: DuckDB then reads only these
    -- records' rows of the 12M observations instead of joining all of them with the records to assess
    -- (3.6 s against 2.8 s for the model at M, docs/performance.md, Q).
    select * from observations semi join observations_to_assess using (record_id)
),
{% else %}
observations_to_assess as (
    select * from observations
),

linked_observations as (
    select * from observations
),
{% endif %}

co_occurrences as (
    -- For each identifier, how many distinct identifiers of each counted type share records with it.
    select
        observations.identifier_key,
        observations.identifier_type,
        linked.identifier_type as linked_type,
        count(distinct linked.identifier_value) as linked_values
    from observations_to_assess as observations
    inner join linked_observations as linked
        on observations.record_id = linked.record_id
        and observations.identifier_type <> linked.identifier_type
    inner join rules as linked_rules
        on linked.identifier_type = linked_rules.identifier_type
    where linked_rules.counts_toward_group_size
    group by observations.identifier_key, observations.identifier_type, linked.identifier_type
),

co_occurrences_judged as (
    select
        co_occurrences.*,
        coalesce(group_limits.max_distinct, rules.max_group_size) as max_distinct,
        co_occurrences.linked_values > coalesce(group_limits.max_distinct, rules.max_group_size) as is_over_limit
    from co_occurrences
    inner join rules
        on co_occurrences.identifier_type = rules.identifier_type
    left join group_limits
        on co_occurrences.identifier_type = group_limits.identifier_type
        and co_occurrences.linked_type = group_limits.linked_type
),

group_sizes as (
    select
        identifier_key,
        max(linked_values) as group_size,
        -- The limit broken by the widest margin explains the block; among equal margins the first linked type
        -- alphabetically, so the explanation never depends on row order. Chosen among the broken limits only
        -- and kept as numbers, worded once per shared identifier below: with the text worded for all 7.5M
        -- co-occurrences at M, this step took 3.6 of the full build's 22 CPU-seconds, now 1.8
        -- (docs/performance.md, section AH).
        arg_min(
            {'linked_values': linked_values, 'linked_type': linked_type, 'max_distinct': max_distinct},
            (max_distinct - linked_values, linked_type)
        ) filter (where is_over_limit) as widest_breach
    from co_occurrences_judged
    group by identifier_key
),

identifiers as (
    select
        identifier_key,
        min(identifier_type) as identifier_type,
        min(identifier_value) as identifier_value,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        -- The (record, identifier) pairs are unique (tested on int_identifiers_observed): a plain count is the
        -- number of records, without the second aggregation a distinct count costs.
        count(record_id) as record_count,
        sum(hash(record_id)) as record_hash_sum
    from observations_to_assess
    group by identifier_key
),

assessed as (
    select
        identifiers.*,
        coalesce(group_sizes.group_size, 0) as group_size,
        rules.priority,
        case
            when rules.identifier_type is null then 'no rule for this identifier type in identity_rules'
            when not rules.is_linkable then 'identifier type is not linkable (identity_rules)'
            when blocked_values.identifier_value is not null then 'blocked value: ' || blocked_values.reason
            when not {{ matches_pattern('identifiers.identifier_value', 'rules.value_pattern', identity_value_patterns()) }}
                then 'does not match the personal ' || identifiers.identifier_type || ' pattern ' || rules.value_pattern
            when group_sizes.widest_breach is not null then
                'shared: appears with ' || group_sizes.widest_breach.linked_values || ' distinct '
                || group_sizes.widest_breach.linked_type || ' values (limit ' || group_sizes.widest_breach.max_distinct
                || ')'
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

judged as (
    select
        *,
        block_reason is null as is_linking
    from assessed
),

final as (
    select
        judged.*,
        (select rules_version from rules_version) as rules_version,
        {{ build_stamp() }} as changed_at,
        {{ stamp_when_changed('judged', ['is_linking', 'priority'], 'linking_changed_at') }} as linking_changed_at
    from judged
    {{- join_previous_row('judged', 'identifier_key') }}
)

select * from final
{%- if is_incremental() %}
union all by name
-- Identifiers no record carries any more: tombstones (identifier_type null). delete+insert removes their
-- stored rows; the post-hook deletes the tombstones.
select identifier_key, {{ build_stamp() }} as changed_at
from identifiers_to_assess
anti join identifiers using (identifier_key)
{%- endif %}
