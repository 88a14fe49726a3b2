-- Reconciliation: the fact's Augment active identities per day (service accounts included,
-- as Augment counts them) equal augment_dau_count, on every day the per-user streams cover.

with fact as (
    select activity_date, sum(identity_count) as active_identities
    from {{ ref('ai_analytics_usage_daily') }}
    where vendor = 'augment'
    group by activity_date
),

bounds as (
    select min(activity_date) as first_date, max(activity_date) as last_date from fact
)

select
    counts.activity_date,
    counts.active_user_count,
    coalesce(fact.active_identities, 0) as active_identities
from {{ ref('stg_augment_dau_count') }} as counts
cross join bounds
left join fact
    on fact.activity_date = counts.activity_date
where counts.activity_date between bounds.first_date and bounds.last_date
    and counts.active_user_count <> coalesce(fact.active_identities, 0)
