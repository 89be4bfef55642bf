{#-
    Bad values become null in staging instead of failing the build; this test counts them. It returns the
    count when the share of rows matching `condition` exceeds `max_share` (use with severity: warn), so
    the number shows in the run results and the Dagster asset check without stopping the night.
-#}
{% test share_below(model, condition, max_share, column_name=none) %}
with counted as (
    select
        count(*) as total_rows,
        count(*) filter (where {{ condition }}) as matching_rows
    from {{ model }}
)
select matching_rows, total_rows
from counted
where total_rows > 0 and matching_rows > {{ max_share }} * total_rows
{% endtest %}
