{#- An RFM score is an integer from 1 to var('rfm_bucket_count'). -#}
{% test valid_rfm_score(model, column_name) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is null
    or {{ column_name }} < 1
    or {{ column_name }} > {{ var('rfm_bucket_count') | int }}
{% endtest %}
