-- Every identifier seen in every source record that names a person, one row per (record, identifier): the
-- evidence identity resolution uses. The pairs of int_identifiers_observed_with_removals not marked removed.
{{ config(materialized='view') }}

with

observations_with_removals as (
    select * from {{ ref('int_identifiers_observed_with_removals') }}
),

final as (
    select * exclude (is_removed)
    from observations_with_removals
    where not is_removed
)

select * from final
