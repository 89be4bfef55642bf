-- Customers with equal recency, frequency or monetary value must share the score: ties are never split by
-- row order. Rows returned name the dimension and the value that got more than one score.
with

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
)

select 'recency' as dimension, cast(recency_days as varchar) as value, count(distinct recency_score) as scores
from customer_rfm
group by recency_days
having count(distinct recency_score) > 1
union all
select 'frequency', cast(frequency as varchar), count(distinct frequency_score)
from customer_rfm
group by frequency
having count(distinct frequency_score) > 1
union all
select 'monetary', cast(monetary as varchar), count(distinct monetary_score)
from customer_rfm
group by monetary
having count(distinct monetary_score) > 1
