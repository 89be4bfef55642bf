-- Identifiers that do not link records, and why: the placeholders and shared values identity resolution
-- refused to merge people on. Review this list when a segment looks too small or a profile too big.
with

assessed as (
    select * from {{ ref('int_identifiers_assessed') }}
),

final as (
    select
        identifier_type,
        identifier_value,
        block_reason,
        group_size,
        record_count,
        first_seen_at,
        last_seen_at
    from assessed
    where not is_linking
)

select * from final
