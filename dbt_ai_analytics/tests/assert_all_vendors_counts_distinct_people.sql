-- 'all' counts distinct people: on each day exactly the people active on any vendor that
-- day (someone on both vendors once), and over 7 and 28 days at least the larger vendor
-- and at most the sum of the vendors.

with distinct_daily as (
    select usage.activity_date, count(distinct usage.person_id) as people
    from {{ ref('ai_analytics_usage_daily') }} as usage
    where {{ ai_analytics_people_filter('usage') }}
    group by usage.activity_date
),

vendors as (
    select
        activity_date,
        max(weekly_active_people) as largest_weekly,
        sum(weekly_active_people) as summed_weekly,
        max(monthly_active_people) as largest_monthly,
        sum(monthly_active_people) as summed_monthly
    from {{ ref('ai_analytics_active_people') }}
    where vendor <> 'all'
    group by activity_date
)

select all_vendors.activity_date
from {{ ref('ai_analytics_active_people') }} as all_vendors
inner join vendors
    on vendors.activity_date = all_vendors.activity_date
left join distinct_daily
    on distinct_daily.activity_date = all_vendors.activity_date
where all_vendors.vendor = 'all'
    and (
        all_vendors.daily_active_people <> coalesce(distinct_daily.people, 0)
        or all_vendors.weekly_active_people < vendors.largest_weekly
        or all_vendors.weekly_active_people > vendors.summed_weekly
        or all_vendors.monthly_active_people < vendors.largest_monthly
        or all_vendors.monthly_active_people > vendors.summed_monthly
        or all_vendors.weekly_active_people > all_vendors.monthly_active_people
    )
