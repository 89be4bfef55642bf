{#-
    The date the warehouse describes: "today" for recency, windows, birthdays and every segment. Use
    {{ as_of_date() }} wherever a model needs today; never current_date, so a rebuild of a past day (var
    as_of_date) gives exactly that day's answers and reruns of one night agree.

    The value lives in one place, the one-row model int_as_of_date: var('as_of_date') when set, otherwise the
    latest dump date in the lake (the nightly run's own date). Unit tests give that model as an input.
-#}
{% macro as_of_date() -%}
    (select as_of_date from {{ ref('int_as_of_date') }})
{%- endmacro %}
