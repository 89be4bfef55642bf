{#-
    Cast that yields null instead of failing on a bad value. dbt.safe_cast is a plain cast on DuckDB, so a
    single malformed value would fail a whole model; staging counts such nulls instead (see the
    *_is_valid columns and the not_null tests with thresholds).
-#}
{% macro try_cast(expression, data_type) -%}
    {{ return(adapter.dispatch('try_cast', 'retail_cdp')(expression, data_type)) }}
{%- endmacro %}

{% macro default__try_cast(expression, data_type) -%}
    try_cast({{ expression }} as {{ data_type }})
{%- endmacro %}

{#- Parse text into a date with a strptime format; null when it does not match. -#}
{% macro try_parse_date(expression, format) -%}
    {{ return(adapter.dispatch('try_parse_date', 'retail_cdp')(expression, format)) }}
{%- endmacro %}

{% macro default__try_parse_date(expression, format) -%}
    cast(try_strptime({{ expression }}, '{{ format }}') as date)
{%- endmacro %}
