{{ config(materialized='incremental') }}
-- Every change of an identifier's customer_id, run after run, with the evidence: a new identifier, an
-- identifier moved to another customer (a merge when its old customer vanished, a split when the old
-- customer still exists), an identifier that stopped linking (blocked), or one no record carries any more
-- (removed: a re-delivered or corrected record dropped it). The first run records every identifier as new.
-- Append-only: the latest row per identifier is its current assignment (a removed identifier has none).
--
-- Incremental: only the identifiers whose assignment can have changed since the log's last build are
-- compared with their latest logged row: those int_identifiers_resolved stamped (new, or another customer_id),
-- those int_identifiers_assessed re-assessed (which includes every one that started or stopped linking,
-- whose customer_id becomes null or comes back), and those that lost a record since (the removal markers of
-- int_identifiers_observed_with_removals: an identifier leaves the assessment only with its last pair). Every
-- other identifier has the customer_id, or the block, it had when the log last ran. After a full rebuild of
-- the observations, which has no markers, every logged identifier is compared, once. (The log stamps rows
-- with current_timestamp, the start of its own transaction: after the start of the build that wrote the
-- upstream rows it read and before the next build's, so its newest stamp is a watermark for the upstream
-- stamps.)
with

resolved as (
    select * from {{ ref('int_identifiers_resolved') }}
),

assessed as (
    select * from {{ ref('int_identifiers_assessed') }}
),

observations as (
    select * from {{ ref('int_identifiers_observed') }}
),

identifier_removals as {{ cte_not_materialized() }} (
    -- Read by incremental runs only; outside their branch so that dbt sees the ref when it parses the project.
    select * from {{ ref('int_identifiers_observed_with_removals') }} where is_removed
),

{% if is_incremental() %}
{#- The log's stamps are instants (current_timestamp); the upstream stamps are UTC wall-clock times. -#}
{%- set logged_through = stored_watermark('changed_at', "changed_at at time zone 'UTC'") %}
{%- set observations_rebuilt = rebuilt_since_last_build(
    ref('int_identifiers_observed_with_removals'), since=logged_through) %}
candidates as (
    select identifier_key from resolved where changed_at > {{ logged_through }}
    union
    -- Re-assessed tonight; an identifier that starts or stops linking is always among them.
    select identifier_key from assessed where changed_at > {{ logged_through }}
    union
    {%- if observations_rebuilt %}
    select identifier_key from {{ this }}
    {%- else %}
    select identifier_key
    from ({{ identifiers_that_lost_a_record_since_last_build('identifier_removals', since=logged_through) }})
        as lost_a_record
    {%- endif %}
),

candidate_assessments as (
    select * from assessed semi join candidates using (identifier_key)
),

candidate_resolutions as (
    -- Probed with the candidates: joined to them directly, DuckDB may build its hash table on all 3.4M
    -- resolved identifiers instead (0.5 s at M, against 0.05 s).
    select * from resolved semi join candidates using (identifier_key)
),
{% else %}
candidate_assessments as (
    select * from assessed
),

candidate_resolutions as (
    select * from resolved
),
{% endif %}

current_assignments as (
    select
        assessed.identifier_key,
        assessed.identifier_type,
        assessed.identifier_value,
        resolved.customer_id,
        assessed.block_reason
    from candidate_assessments as assessed
    left join candidate_resolutions as resolved
        on assessed.identifier_key = resolved.identifier_key
),

{% if is_incremental() %}
previous_assignments as (
    select identifier_key, identifier_type, identifier_value, customer_id, change_type
    from {{ this }}
    semi join candidates using (identifier_key)
    qualify row_number() over (partition by identifier_key order by changed_at desc, change_type) = 1
),

removed as (
    -- Logged with an assignment (or a block), and no longer assessed: no record carries it any more.
    select
        previous_assignments.identifier_key,
        previous_assignments.identifier_type,
        previous_assignments.identifier_value,
        previous_assignments.customer_id as previous_customer_id
    from previous_assignments
    anti join candidate_assessments using (identifier_key)
    where previous_assignments.change_type <> 'removed'
),
{% else %}
previous_assignments as (
    select
        cast(null as varchar) as identifier_key,
        cast(null as varchar) as customer_id,
        cast(null as varchar) as change_type
    where false
),
{% endif %}

changed as (
    select
        current_assignments.*,
        previous_assignments.customer_id as previous_customer_id,
        -- An identifier logged as removed and carried again is new again.
        coalesce(previous_assignments.change_type <> 'removed', false) as was_known
    from current_assignments
    left join previous_assignments
        on current_assignments.identifier_key = previous_assignments.identifier_key
    where previous_assignments.customer_id is distinct from current_assignments.customer_id
        or previous_assignments.identifier_key is null
        or previous_assignments.change_type = 'removed'
),

surviving_customers as (
    select distinct customer_id
    from resolved
    {%- if is_incremental() %}
    where customer_id in (select customer_id from previous_assignments)
    {%- endif %}
),

evidence as (
    -- The records that tie the identifier to its customer: which source record joined what, in record_id
    -- order. The (record, identifier) pairs are unique (tested on int_identifiers_observed). list_sort sorts
    -- each identifier's few records after a plain hash aggregate; an ordered string_agg with distinct took
    -- three times as long for the same strings (14.2 s against 4.9 s over 12M observations at M). A first
    -- build logs every identifier, so it reads every observation without a join to the changed ones.
    select
        observations.identifier_key,
        array_to_string(list_sort(list(observations.record_id)), ', ') as evidence_records
    from observations
    {%- if is_incremental() %}
    semi join changed using (identifier_key)
    {%- endif %}
    group by observations.identifier_key
    {%- if is_incremental() %}
    union all
    -- A removed identifier's evidence: the records that dropped it since the log last ran (none after a full
    -- rebuild of the observations).
    select
        removals.identifier_key,
        array_to_string(list_sort(list(removals.record_id)), ', ') as evidence_records
    from identifier_removals as removals
    semi join removed using (identifier_key)
    where removals.changed_at > {{ logged_through }}
    group by removals.identifier_key
    {%- endif %}
),

changes as (
    select
        changed.identifier_key,
        changed.identifier_type,
        changed.identifier_value,
        changed.customer_id,
        changed.previous_customer_id,
        case
            when not changed.was_known and changed.customer_id is null then 'new_blocked'
            when not changed.was_known then 'new'
            when changed.customer_id is null then 'blocked'
            when changed.previous_customer_id is null then 'unblocked'
            when surviving_customers.customer_id is null then 'merged'
            else 'split'
        end as change_type,
        changed.block_reason
    from changed
    left join surviving_customers
        on changed.previous_customer_id = surviving_customers.customer_id
    {%- if is_incremental() %}
    union all
    select
        identifier_key,
        identifier_type,
        identifier_value,
        cast(null as varchar) as customer_id,
        previous_customer_id,
        'removed' as change_type,
        cast(null as varchar) as block_reason
    from removed
    {%- endif %}
),

final as (
    select
        changes.*,
        left(evidence.evidence_records, 500) as evidence_records,
        current_timestamp as changed_at,
        '{{ invocation_id }}' as invocation_id
    from changes
    left join evidence
        on changes.identifier_key = evidence.identifier_key
)

select * from final
