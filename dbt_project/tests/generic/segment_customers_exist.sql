{#-
    Every row of a segment is a customer of the customers mart, and reachable: contactable on at least one
    channel, with that channel's address present. An export built on a segment can never reach anyone else.
-#}
{% test segment_customers_exist(model) %}
with

segment as (
    select * from {{ model }}
),

customers as (
    select * from {{ ref('customers') }}
)

select segment.customer_id
from segment
left join customers
    on segment.customer_id = customers.customer_id
where customers.customer_id is null
    or not (
        (customers.is_email_contactable and customers.email is not null)
        or (customers.is_sms_contactable and customers.phone is not null)
        or (customers.is_push_contactable and customers.phone is not null)
    )
{% endtest %}
