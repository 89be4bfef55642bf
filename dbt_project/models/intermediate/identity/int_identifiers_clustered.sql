-- Each linking identifier with its connected component (the component's smallest identifier key).
with

edges as (
    select * from {{ ref('int_identity_edges') }}
),

{{ connected_components('edges', var('identity_max_iterations')) }}

select * from components
