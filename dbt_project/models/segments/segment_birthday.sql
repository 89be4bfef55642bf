-- Customers whose birthday falls from birthday_days_after days before the as-of date up to
-- birthday_days_before days after it (default: the coming week, the day itself included). The birthday is
-- looked for in the as-of date's year and the years either side, so a window across New Year works;
-- people born on 29 February celebrate on 28 February in other years.
with

customers as (
    select * from {{ ref('customers') }}
),

birthday_candidates as (
    select
        customers.customer_id,
        {{ birthday_in_year('customers.birth_date', 'year(' ~ as_of_date() ~ ') + year_offsets.year_offset') }} as birthday_date,
    from customers
    cross join (select unnest([-1, 0, 1]) as year_offset) as year_offsets
    where customers.birth_date is not null
),

birthdays_in_window as (
    select
        customer_id,
        min(birthday_date) as birthday_date,
    from birthday_candidates
    where birthday_date between {{ as_of_date() }} - {{ var('birthday_days_after') | int }}
        and {{ as_of_date() }} + {{ var('birthday_days_before') | int }}
    group by customer_id
),

final as (
    select
        {{ segment_contact_columns('customers') }}
        customers.birth_date,
        birthdays_in_window.birthday_date,
        birthdays_in_window.birthday_date - {{ as_of_date() }} as days_until_birthday,
        'birthday on ' || birthdays_in_window.birthday_date || case
            when birthdays_in_window.birthday_date = {{ as_of_date() }} then ' (today)'
            when birthdays_in_window.birthday_date > {{ as_of_date() }}
                then ' (in ' || (birthdays_in_window.birthday_date - {{ as_of_date() }}) || ' days)'
            else ' (' || ({{ as_of_date() }} - birthdays_in_window.birthday_date) || ' days ago)'
        end as segment_reason,
    from birthdays_in_window
    inner join customers
        on birthdays_in_window.customer_id = customers.customer_id
    where {{ is_reachable('customers') }}
)

select * from final
