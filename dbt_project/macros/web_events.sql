{#- Which identifier put a web event on its customer (int_web_events_resolved): the login wins over the device. -#}
{% macro web_event_resolved_by(shop_users, devices) -%}
    case
        when {{ shop_users }}.customer_id is not null then 'shop_user'
        when {{ devices }}.customer_id is not null then 'web_device'
    end
{%- endmacro %}
