{#-
    Identifier normalisation, applied in staging before anything is matched. Every source goes through
    the same macros, so an email or phone compares equal however each system typed it.
-#}

{#- Email: trimmed, lower-cased; empty becomes null. -#}
{% macro normalize_email(expression) -%}
    nullif(lower(trim({{ expression }})), '')
{%- endmacro %}

{#- A plausible address: one @, no spaces, a dotted domain with a 2+ letter top level. -#}
{% macro is_valid_email(normalized_expression) -%}
    {{ return(adapter.dispatch('is_valid_email', 'retail_cdp')(normalized_expression)) }}
{%- endmacro %}

{% macro default__is_valid_email(normalized_expression) -%}
    coalesce(regexp_matches({{ normalized_expression }}, '^[a-z0-9._%+\-]+@[a-z0-9\-]+(\.[a-z0-9\-]+)*\.[a-z]{2,}$'), false)
{%- endmacro %}

{% macro spark__is_valid_email(normalized_expression) -%}
    coalesce({{ normalized_expression }} rlike '^[a-z0-9._%+\\-]+@[a-z0-9\\-]+(\\.[a-z0-9\\-]+)*\\.[a-z]{2,}$', false)
{%- endmacro %}

{#- Digits only. -#}
{% macro phone_digits(expression) -%}
    {{ return(adapter.dispatch('phone_digits', 'retail_cdp')(expression)) }}
{%- endmacro %}

{% macro default__phone_digits(expression) -%}
    regexp_replace({{ expression }}, '[^0-9]', '', 'g')
{%- endmacro %}

{% macro spark__phone_digits(expression) -%}
    regexp_replace({{ expression }}, '[^0-9]', '')
{%- endmacro %}

{#-
    Phone in E.164 (+79161234567). National numbers get the default country code; a leading trunk
    prefix (8 in Russia) is replaced by it. Both are vars with documented defaults (dbt_project.yml).
    Anything that still is not 11-15 digits becomes null: it cannot be matched safely.
-#}
{% macro normalize_phone(expression) -%}
    {%- set country = var('default_phone_country_code') | string -%}
    {%- set trunk = var('phone_trunk_prefix') | string -%}
    {%- set national_length = var('national_phone_length') | int -%}
    {%- set digits = phone_digits(expression) -%}
    case
        when length({{ digits }}) = {{ national_length }}
            then '+{{ country }}' || {{ digits }}
        when length({{ digits }}) = {{ national_length + trunk | length }} and left({{ digits }}, {{ trunk | length }}) = '{{ trunk }}'
            then '+{{ country }}' || right({{ digits }}, {{ national_length }})
        when length({{ digits }}) between 11 and 15
            then '+' || {{ digits }}
    end
{%- endmacro %}

{#-
    Whole-value regular expression match; an empty or null pattern matches everything. `known_patterns` are
    patterns the pattern column is expected to hold (identity_value_patterns()): an engine may match those as
    literals. The result is the same whatever the list holds.
-#}
{% macro matches_pattern(expression, pattern_expression, known_patterns=[]) -%}
    {{ return(adapter.dispatch('matches_pattern', 'retail_cdp')(expression, pattern_expression, known_patterns)) }}
{%- endmacro %}

{% macro default__matches_pattern(expression, pattern_expression, known_patterns=[]) -%}
    (coalesce({{ pattern_expression }}, '') = '' or regexp_full_match({{ expression }}, {{ pattern_expression }}))
{%- endmacro %}

{#-
    DuckDB compiles a pattern given as a column once per row (about 4 us: 4.7 s for the 1.1M phones and cards at M),
    a literal once per query. Each known pattern gets a branch matching it as a literal; any other (a seed
    edited after the query was compiled, a unit test's rules) falls through to the column. A case, not an or:
    each row is evaluated in one branch only.
-#}
{% macro duckdb__matches_pattern(expression, pattern_expression, known_patterns=[]) -%}
    case
        when coalesce({{ pattern_expression }}, '') = '' then true
        {%- for pattern in known_patterns %}
        {%- set literal = dbt.string_literal(dbt.escape_single_quotes(pattern)) %}
        when {{ pattern_expression }} = {{ literal }}
            then regexp_full_match({{ expression }}, {{ literal }})
        {%- endfor %}
        else regexp_full_match({{ expression }}, {{ pattern_expression }})
    end
{%- endmacro %}

{% macro spark__matches_pattern(expression, pattern_expression, known_patterns=[]) -%}
    (coalesce({{ pattern_expression }}, '') = '' or {{ expression }} rlike {{ pattern_expression }})
{%- endmacro %}

{#-
    The value patterns identity_rules holds now, for matches_pattern's literal branches: none while parsing,
    before the seed is loaded, or in a unit test (its rules are the test's rows).
-#}
{% macro identity_value_patterns() -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set rules = load_relation(ref('identity_rules')) -%}
    {%- if rules is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set patterns = run_query(
        "select distinct value_pattern from " ~ rules ~ " where coalesce(value_pattern, '') <> '' order by 1"
    ) -%}
    {{ return(patterns.columns[0].values() | list) }}
{%- endmacro %}
