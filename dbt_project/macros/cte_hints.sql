{#-
    Hints for CTEs read more than once. DuckDB decides for itself whether such a CTE is inlined or
    materialized, and other engines take no hint, so both macros render nothing there.
-#}

{#- A CTE that must be computed once (the components' node numbering: read three times, and row_number must
    number once), or first: a few stored rows picked by a semi join, which DuckDB would otherwise join to a big
    table before picking them (int_esp_activity_resolved, docs/performance.md, section AC). -#}
{% macro cte_materialized() -%}
    {{ return(adapter.dispatch('cte_materialized', 'retail_cdp')()) }}
{%- endmacro %}

{% macro default__cte_materialized() -%}{%- endmacro %}

{% macro duckdb__cte_materialized() -%}materialized{%- endmacro %}

{#- Import CTEs of big tables a model reads more than once, and every staging model's `source` (its
    deduplication reads it three times): DuckDB would materialize them, copying every column of every row
    before the query runs; inlined, each reader scans only the columns it needs (docs/analysts.md,
    docs/performance.md). -#}
{% macro cte_not_materialized() -%}
    {{ return(adapter.dispatch('cte_not_materialized', 'retail_cdp')()) }}
{%- endmacro %}

{% macro default__cte_not_materialized() -%}{%- endmacro %}

{% macro duckdb__cte_not_materialized() -%}not materialized{%- endmacro %}
