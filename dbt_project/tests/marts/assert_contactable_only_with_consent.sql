-- No customer is contactable on a channel without consent on that channel, an address, and the absence of
-- a suppression since the consent. Rows returned are customers a campaign could reach illegitimately.
with

customers as (
    select * from {{ ref('customers') }}
)

select customer_id, 'email' as channel
from customers
where is_email_contactable and (not has_email_consent or email is null or email_suppressed_by is not null)
union all
select customer_id, 'sms'
from customers
where is_sms_contactable and (not has_sms_consent or phone is null or sms_suppressed_by is not null)
union all
select customer_id, 'push'
from customers
where is_push_contactable and (not has_push_consent or phone is null or push_suppressed_by is not null)
