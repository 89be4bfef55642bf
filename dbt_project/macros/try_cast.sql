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
