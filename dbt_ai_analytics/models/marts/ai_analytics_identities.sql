-- Every vendor identity (an Augment user or service account, a Sourcegraph instance user)
-- mapped to the person it belongs to. person_id is the normalised email where the vendor
-- gives one, else a vendor-scoped key, so a person without an email is still counted once.

with augment_seen as (
    {%- for stream in [
        'stg_augment_daily_active_users',
        'stg_augment_user_activity',
        'stg_augment_user_activity_by_editor_language',
        'stg_augment_credit_usage',
    ] %}
    {% if not loop.first %}union all{% endif %}
    select identity, identity_type, user_email from {{ ref(stream) }}
    {%- endfor %}
),

augment as (
    select
        cast('augment' as {{ dbt.type_string() }}) as vendor,
        {{ dbt.concat(["'augment:'", 'identity']) }} as identity_key,
        cast(null as {{ dbt.type_string() }}) as instance_url,
        cast(null as {{ dbt.type_bigint() }}) as instance_user_id,
        identity as vendor_identity,
        max(case when identity_type = 'user' then {{ ai_analytics_email('coalesce(user_email, identity)') }} end) as email,
        max(case when identity_type = 'service_account' then 1 else 0 end) = 1 as is_service_account
    from augment_seen
    group by identity
),

sourcegraph_seen as (
    {%- for report in [
        'stg_sourcegraph_usage_by_user_day_client_language',
        'stg_sourcegraph_usage_by_user_day',
        'stg_sourcegraph_usage_by_user_month',
        'stg_sourcegraph_usage_by_user',
    ] %}
    select instance_url, instance_user_id, user_email, username from {{ ref(report) }}
    union all
    {%- endfor %}
    select
        instance_url,
        instance_user_id,
        cast(null as {{ dbt.type_string() }}) as user_email,
        cast(null as {{ dbt.type_string() }}) as username
    from {{ ref('stg_sourcegraph_user_registry') }}
),

sourcegraph_users as (
    select
        instance_url,
        instance_user_id,
        max({{ ai_analytics_email('user_email') }}) as email,
        max(nullif(trim(username), '')) as username
    from sourcegraph_seen
    group by instance_url, instance_user_id
),

sourcegraph as (
    select
        cast('sourcegraph' as {{ dbt.type_string() }}) as vendor,
        {{ dbt.concat([
            "'sourcegraph:'", 'users.instance_url', "':'",
            'cast(users.instance_user_id as ' ~ dbt.type_string() ~ ')'
        ]) }} as identity_key,
        users.instance_url,
        users.instance_user_id,
        coalesce(users.username, cast(users.instance_user_id as {{ dbt.type_string() }})) as vendor_identity,
        users.email,
        coalesce(registry.is_service_account, false) as is_service_account
    from sourcegraph_users as users
    left join {{ ref('stg_sourcegraph_user_registry') }} as registry
        on registry.instance_url = users.instance_url
        and registry.instance_user_id = users.instance_user_id
),

identities as (
    select * from augment
    union all
    select * from sourcegraph
)

select
    identity_key,
    vendor,
    instance_url,
    instance_user_id,
    vendor_identity,
    email,
    is_service_account,
    coalesce(email, identity_key) as person_id
from identities
