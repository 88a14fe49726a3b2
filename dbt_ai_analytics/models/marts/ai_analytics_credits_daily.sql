-- Augment credits per day, person and model (stream augment_credit_usage; empty when it is
-- not loaded). Service accounts are included and flagged.

select
    {{ dbt.concat([
        'identities.person_id', "'|'", 'cast(credits.activity_date as ' ~ dbt.type_string() ~ ')',
        "'|'", 'credits.model_name'
    ]) }} as credits_id,
    credits.activity_date,
    identities.person_id,
    credits.model_name,
    max(case when identities.is_service_account then 1 else 0 end) = 1 as is_service_account,
    sum(credits.credits_consumed) as credits_consumed
from {{ ref('stg_augment_credit_usage') }} as credits
inner join {{ ref('ai_analytics_identities') }} as identities
    on identities.identity_key = {{ dbt.concat(["'augment:'", 'credits.identity']) }}
group by credits.activity_date, identities.person_id, credits.model_name
