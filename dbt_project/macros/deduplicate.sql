{#-
    Keep one row per key: the first by `order_by`. Sources re-deliver rows (late rows, status updates, files
    sent twice, duplicated lines), so every staging model keeps the latest version of each natural key.
    The lineage columns make the order total, so the surviving row never depends on read order.
    `partition_by` is a column or a list of columns.
-#}
{% macro deduplicate(relation, partition_by, order_by) -%}
    select *
    from {{ relation }}
    qualify row_number() over (partition by {{ key_csv(partition_by) }} order by {{ order_by }}) = 1
{%- endmacro %}

{#-
    Lineage columns every staging model carries, and the order "latest delivery wins" among duplicates. A dump
    date re-run (the source re-sent it) has the same files and line numbers as the rows stored from the first
    run; its later loaded_at is what makes it win. Within one load every row has the same loaded_at, so a full
    build orders exactly as before.
-#}
{% macro lineage_columns() -%}
    _source_file as source_file,
    _line_number as source_line_number,
    _dump_date as dump_date,
    _loaded_at as loaded_at
{%- endmacro %}

{% macro latest_delivery_first() -%}
    dump_date desc, loaded_at desc, source_file desc, source_line_number desc
{%- endmacro %}

{% macro key_csv(key) -%}
    {{ key if key is string else key | join(', ') }}
{%- endmacro %}
