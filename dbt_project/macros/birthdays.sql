{#-
    The occurrence of a birthday (month and day of `birth_date`) in `year`. 29 February falls on 28 February
    in years without it, so people born on a leap day still get their birthday campaign.
-#}
{% macro birthday_in_year(birth_date, year) -%}
    {#- `year` is often an expression (a year plus an offset): parenthesized, or `%` would bind to its last term
        alone and every year would look like one without 29 February. #}
    {%- set year = '(' ~ year ~ ')' %}
    case
        when month({{ birth_date }}) = 2 and day({{ birth_date }}) = 29
            and not ({{ year }} % 4 = 0 and ({{ year }} % 100 <> 0 or {{ year }} % 400 = 0))
            then make_date({{ year }}, 2, 28)
        else make_date({{ year }}, month({{ birth_date }}), day({{ birth_date }}))
    end
{%- endmacro %}
