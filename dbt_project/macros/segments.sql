{#-
    What every segment carries for a campaign: who, how to reach them, and on which channels they may be
    reached. `relation` is the customers mart's CTE alias in the segment model.
-#}
{% macro segment_contact_columns(relation='customers') -%}
        {{ relation }}.customer_id,
        {{ relation }}.first_name,
        {{ relation }}.last_name,
        {{ relation }}.email,
        {{ relation }}.phone,
        {{ relation }}.is_email_contactable,
        {{ relation }}.is_sms_contactable,
        {{ relation }}.is_push_contactable,
{%- endmacro %}

{#- Only people contactable on at least one channel ever enter a segment, so no export can leak others. -#}
{% macro is_reachable(relation='customers') -%}
    ({{ relation }}.is_email_contactable or {{ relation }}.is_sms_contactable or {{ relation }}.is_push_contactable)
{%- endmacro %}
