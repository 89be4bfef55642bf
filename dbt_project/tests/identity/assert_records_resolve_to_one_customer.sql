-- A record's linking identifiers are linked by the record itself, so they can only have one customer.
select *
from {{ ref('int_records_resolved') }}
where customer_count <> 1
