-- 'all' counts distinct people: at least the larger vendor, at most the sum of the vendors.

with vendors as (
    select
        activity_date,
        max(daily_active_people) as largest_daily,
        sum(daily_active_people) as summed_daily,
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
where all_vendors.vendor = 'all'
    and (
        all_vendors.daily_active_people < vendors.largest_daily
        or all_vendors.daily_active_people > vendors.summed_daily
        or all_vendors.monthly_active_people < vendors.largest_monthly
        or all_vendors.monthly_active_people > vendors.summed_monthly
        or all_vendors.weekly_active_people > all_vendors.monthly_active_people
    )
