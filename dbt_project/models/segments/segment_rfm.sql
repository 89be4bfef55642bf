-- Every reachable customer who has purchased, with their RFM segment (customer_rfm) for lifecycle campaigns:
-- filter on rfm_segment in the messaging tool, or copy this view per segment.
with

customers as (
    select * from {{ ref('customers') }}
),

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

final as (
    select
        {{ segment_contact_columns('customers') }}
        customer_rfm.rfm_segment,
        customer_rfm.rfm_cell,
        customer_rfm.recency_score,
        customer_rfm.frequency_score,
        customer_rfm.monetary_score,
        'RFM ' || customer_rfm.rfm_cell || ' is ' || customer_rfm.rfm_segment
            || ': last purchase ' || customer_rfm.recency_days || ' days ago, '
            || customer_rfm.frequency || ' purchases, net revenue ' || customer_rfm.monetary as segment_reason,
    from customer_rfm
    inner join customers
        on customer_rfm.customer_id = customers.customer_id
    where {{ is_reachable('customers') }}
)

select * from final
