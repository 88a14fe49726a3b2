-- Daily, 7-day and 28-day active people per vendor and across vendors ('all'), for every
-- day from the first to the last day with activity. Distinct people, not sums of vendors:
-- someone active on both vendors counts once in 'all'. Service accounts are excluded unless
-- the var ai_analytics_include_service_accounts is true. A window reaching back before the
-- first loaded day is partial (see days_in_window).

with people_days as (
    select usage.activity_date, usage.vendor, usage.person_id
    from {{ ref('ai_analytics_usage_daily') }} as usage
    where {{ ai_analytics_people_filter('usage') }}
),

tagged as (
    select activity_date, vendor, person_id from people_days
    union all
    select activity_date, cast('all' as {{ dbt.type_string() }}) as vendor, person_id
    from people_days
),

bounds as (
    select min(activity_date) as first_date, max(activity_date) as last_date
    from people_days
),

digits as (
    select 0 as digit union all select 1 union all select 2 union all select 3
    union all select 4 union all select 5 union all select 6 union all select 7
    union all select 8 union all select 9
),

offsets as (
    select ones.digit + 10 * tens.digit + 100 * hundreds.digit + 1000 * thousands.digit as day_offset
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
    cross join digits as thousands
),

spine as (
    select cast({{ dbt.dateadd('day', 'offsets.day_offset', 'bounds.first_date') }} as date) as activity_date,
        bounds.first_date
    from offsets
    cross join bounds
    where offsets.day_offset <= {{ dbt.datediff('bounds.first_date', 'bounds.last_date', 'day') }}
),

vendors as (
    {{ ai_analytics_vendors() }}
    union all
    select cast('all' as {{ dbt.type_string() }}) as vendor
),

windows as (
    select
        spine.activity_date,
        vendors.vendor,
        {{ dbt.datediff('spine.first_date', 'spine.activity_date', 'day') }} + 1 as days_loaded,
        tagged.person_id,
        {{ dbt.datediff('tagged.activity_date', 'spine.activity_date', 'day') }} as days_ago
    from spine
    cross join vendors
    left join tagged
        on tagged.vendor = vendors.vendor
        and tagged.activity_date <= spine.activity_date
        and tagged.activity_date > cast({{ dbt.dateadd('day', '-28', 'spine.activity_date') }} as date)
)

select
    {{ dbt.concat(['vendor', "'|'", 'cast(activity_date as ' ~ dbt.type_string() ~ ')']) }}
        as active_people_id,
    activity_date,
    vendor,
    count(distinct case when days_ago = 0 then person_id end) as daily_active_people,
    count(distinct case when days_ago < 7 then person_id end) as weekly_active_people,
    count(distinct person_id) as monthly_active_people,
    min(case when days_loaded < 28 then days_loaded else 28 end) as days_in_window
from windows
group by activity_date, vendor
