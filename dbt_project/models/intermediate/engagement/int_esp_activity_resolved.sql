-- Messaging-platform activity with the customer behind the address it went to: the email for the email
-- channel, the phone for sms and push. customer_id is null when the address is unknown to the warehouse or
-- does not link (a placeholder, a shared address); suppression still applies to the address itself.
--
-- Incremental, like int_web_events_resolved: the activity staged since the last build, plus the rows already
-- here whose address changed customer since then (identities merged, split, blocked or newly linked) or lost
-- a record since (identifiers_that_lost_a_record_since_last_build), among them the addresses that left the
-- identity graph. The customer a row leaves (moved to another customer, or to none) is recorded in
-- departed_values (departures_of): the engagement summary summarizes that customer again from it.
{{ config(
    materialized='incremental',
    meta={'last_build_column': 'changed_at', 'departures_of': 'customer_id'},
    unique_key=['message_id', 'event_type'],
) }}

{%- set activity_columns %}
        message_id,
        event_type,
        channel,
        address_type,
        address,
        campaign,
        is_suppression_event,
        occurred_at,
        loaded_at
{%- endset %}

with

staged_activity as (
    select
        *,
        case when channel = 'email' then email else phone end as address,
        case when channel = 'email' then 'email' else 'phone' end as address_type,
    from {{ ref('stg_esp__activity') }}
    {{ only_new_deliveries('loaded_at') }}
),

identifiers_resolved as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identifiers_resolved') }}
),

identifiers_assessed as (
    select * from {{ ref('int_identifiers_assessed') }}
),

identifier_removals as {{ cte_not_materialized() }} (
    -- Read by incremental runs only; outside their branch so that dbt sees the ref when it parses the project.
    select * from {{ ref('int_identifiers_observed_with_removals') }} where is_removed
),

{%- if is_incremental() %}
{%- set observations_rebuilt = rebuilt_since_last_build(ref('int_identifiers_observed_with_removals')) %}

moved_identifiers as (
    {{ identifiers_moved_since_last_build('identifiers_resolved', 'identifiers_assessed') }}
    union
    {{ identifiers_that_lost_a_record_since_last_build('identifier_removals') }}
),
{%- if observations_rebuilt %}

address_identifiers as (
    -- Every address is an email or a phone (address_type above). The search for addresses that left the graph
    -- builds its hash table on these identifiers only, not on all 3.4M (2.1 s against 0.9 s for the model
    -- at M, docs/performance.md, Q).
    select identifier_type, identifier_value
    from identifiers_resolved
    where identifier_type in ('email', 'phone')
),
{%- endif %}

-- Computed first, on its own: the few stored rows of the moved addresses. Left to the planner, DuckDB joined all
-- the stored activity to all the resolved identifiers before keeping the moved addresses (0.73 s alone at M in a
-- one-day night, against 0.23 s: docs/performance.md, section AC).
stored_activity_to_check as {{ cte_materialized() }} (
    select stored.*
    from {{ this }} as stored
    semi join moved_identifiers
        on stored.address_type = moved_identifiers.identifier_type
        and stored.address = moved_identifiers.identifier_value
    {%- if observations_rebuilt %}
    union all
    -- The observations were rebuilt in full since this table was last built, so an address that left the
    -- identity graph meanwhile left no marker and is in no list of moves: the stored activity whose address is
    -- no longer resolved. Once, after such a rebuild.
    select stored.*
    from {{ this }} as stored
    anti join address_identifiers
        on stored.address_type = address_identifiers.identifier_type
        and stored.address = address_identifiers.identifier_value
    where stored.customer_id is not null
    {%- endif %}
),

stored_activity_changed as (
    select stored.message_id, stored.event_type
    from stored_activity_to_check as stored
    left join identifiers_resolved
        on stored.address_type = identifiers_resolved.identifier_type
        and stored.address = identifiers_resolved.identifier_value
    where stored.customer_id is distinct from identifiers_resolved.customer_id
),
{%- endif %}

activity as (
    select {{ activity_columns }}
    from staged_activity
    {%- if is_incremental() %}
    union all
    select {{ activity_columns }}
    from {{ this }}
    semi join stored_activity_changed using (message_id, event_type)
    anti join staged_activity using (message_id, event_type)
    {%- endif %}
),

final as (
    select
        activity.message_id,
        activity.event_type,
        identifiers_resolved.customer_id,
        activity.channel,
        activity.address_type,
        activity.address,
        activity.campaign,
        activity.is_suppression_event,
        activity.occurred_at,
        cast(activity.occurred_at as date) as occurred_date,
        activity.loaded_at,
        {{ build_stamp() }} as changed_at
    from activity
    -- identifier_key is identifier_type || ':' || identifier_value (types never contain ':'): the same match.
    left join identifiers_resolved
        on activity.address_type = identifiers_resolved.identifier_type
        and activity.address = identifiers_resolved.identifier_value
)

select * from final
