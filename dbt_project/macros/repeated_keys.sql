{#-
    Finding the keys that occur more than once, which the uniqueness tests and the staging deduplication do on
    every big table. `group by <key> having count(*) > 1` builds a hash table of every distinct key: at M, 16.6 s
    for the 30.4M event ids of stg_web__events, although almost none repeat. Sorting the keys' 64-bit hashes
    and comparing each with its neighbour takes 2.8 s. A repeated key has a repeated hash, so the rows whose
    hash repeats hold every repeated key; a hash collision only adds a row that the exact step, over those few
    rows, finds unique. The results are exactly the plain query's (docs/performance.md, section N).
-#}

{#- The hashes of `columns` (a list or a comma-separated string) that occur more than once in `relation`; a null
    is hashed like a value. -#}
{% macro repeated_key_hashes(relation, columns) -%}
    select key_hash
    from (
        select key_hash, lag(key_hash) over (order by key_hash) as previous_key_hash
        from (select hash({{ key_csv(columns) }}) as key_hash from {{ relation }})
    )
    where key_hash = previous_key_hash
{%- endmacro %}

{#- The rows of `relation` that may share their `columns` with another row (every one that does, a few more). -#}
{% macro rows_with_repeated_key_hash(relation, columns) -%}
    select *
    from {{ relation }}
    where hash({{ key_csv(columns) }}) in ({{ repeated_key_hashes(relation, columns) }})
{%- endmacro %}

{#- dbt's `unique` test, the same failing rows, found through the repeated hashes on DuckDB. -#}
{% macro duckdb__test_unique(model, column_name) -%}
{%- set tested -%}
    (select * from {{ model }} where {{ column_name }} is not null) as tested
{%- endset -%}
select
    {{ column_name }} as unique_field,
    count(*) as n_records
from ({{ rows_with_repeated_key_hash(tested, [column_name]) }})
group by {{ column_name }}
having count(*) > 1
{%- endmacro %}

{#- Rows whose combination of `columns` is not unique (no dbt_utils offline). -#}
{% test unique_combination(model, columns) %}
    {{ adapter.dispatch('test_unique_combination', 'retail_cdp')(model, columns) }}
{% endtest %}

{% macro default__test_unique_combination(model, columns) -%}
select {{ key_csv(columns) }}, count(*) as occurrences
from {{ model }}
group by {{ key_csv(columns) }}
having count(*) > 1
{%- endmacro %}

{% macro duckdb__test_unique_combination(model, columns) -%}
select {{ key_csv(columns) }}, count(*) as occurrences
from ({{ rows_with_repeated_key_hash(model, columns) }})
group by {{ key_csv(columns) }}
having count(*) > 1
{%- endmacro %}
