-- One row per person across vendors: the identities they use, whether they are a service
-- account, and their first and last active day per vendor and overall.

with identities as (
    select
        person_id,
        max(email) as email,
        max(case when is_service_account then 1 else 0 end) as service_account_flag,
        max(case when vendor = 'augment' then vendor_identity end) as augment_identity,
        max(case when vendor = 'sourcegraph' then vendor_identity end) as sourcegraph_username,
        count(*) as identity_count,
        sum(case when vendor = 'sourcegraph' then 1 else 0 end) as sourcegraph_identity_count
    from {{ ref('ai_analytics_identities') }}
    group by person_id
),

activity as (
    select
        person_id,
        min(case when vendor = 'augment' then activity_date end) as augment_first_active_date,
        max(case when vendor = 'augment' then activity_date end) as augment_last_active_date,
        sum(case when vendor = 'augment' then 1 else 0 end) as augment_active_days,
        min(case when vendor = 'sourcegraph' then activity_date end) as sourcegraph_first_active_date,
        max(case when vendor = 'sourcegraph' then activity_date end) as sourcegraph_last_active_date,
        sum(case when vendor = 'sourcegraph' then 1 else 0 end) as sourcegraph_active_days,
        min(activity_date) as first_active_date,
        max(activity_date) as last_active_date
    from {{ ref('ai_analytics_usage_daily') }}
    group by person_id
)

select
    identities.person_id,
    identities.email,
    coalesce(identities.email, identities.augment_identity, identities.sourcegraph_username, identities.person_id)
        as display_name,
    identities.service_account_flag = 1 as is_service_account,
    identities.identity_count,
    identities.sourcegraph_identity_count,
    activity.augment_first_active_date,
    activity.augment_last_active_date,
    coalesce(activity.augment_active_days, 0) as augment_active_days,
    activity.sourcegraph_first_active_date,
    activity.sourcegraph_last_active_date,
    coalesce(activity.sourcegraph_active_days, 0) as sourcegraph_active_days,
    activity.first_active_date,
    activity.last_active_date,
    case
        when activity.augment_first_active_date is not null
            and activity.sourcegraph_first_active_date is not null then 'both'
        when activity.augment_first_active_date is not null then 'augment'
        when activity.sourcegraph_first_active_date is not null then 'sourcegraph'
        else 'none'
    end as active_on
from identities
left join activity
    on activity.person_id = identities.person_id
