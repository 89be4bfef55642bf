-- Every identifier seen in every source record that names a person, one row per (record, identifier): the
-- evidence identity resolution uses. A view of int_identifiers_observed_with_removals without its removal
-- markers (the records that no longer name anyone), which only the models keyed by record need.
{{ config(materialized='view') }}

with

observations_with_removals as (
    select * from {{ ref('int_identifiers_observed_with_removals') }}
),

final as (
    select *
    from observations_with_removals
    where identifier_key is not null
)

select * from final
