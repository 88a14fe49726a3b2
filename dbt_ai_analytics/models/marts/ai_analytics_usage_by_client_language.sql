-- Usage and acceptance per day, vendor, editor/client and language. Augment's editor
-- (VSCode, JetBrains, CLI...) and Sourcegraph's client (vscode.cody, jetbrains.cody,
-- server.web...) are both client_name; a blank client or language is ''. Service accounts'
-- usage is included in the sums (is_service_account on the fact tells them apart) but not
-- in active_people unless ai_analytics_include_service_accounts is true.

with augment as (
    select
        usage.activity_date,
        cast('augment' as {{ dbt.type_string() }}) as vendor,
        usage.client_name,
        usage.language,
        identities.person_id,
        identities.is_service_account,
        {%- for name, expression in ai_analytics_common_metrics('augment', 'usage') %}
        {{ expression }} as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('stg_augment_user_activity_by_editor_language') }} as usage
    inner join {{ ref('ai_analytics_identities') }} as identities
        on identities.identity_key = {{ dbt.concat(["'augment:'", 'usage.identity']) }}
),

sourcegraph as (
    select
        usage.activity_date,
        cast('sourcegraph' as {{ dbt.type_string() }}) as vendor,
        usage.client_name,
        usage.language,
        identities.person_id,
        identities.is_service_account,
        {%- for name, expression in ai_analytics_common_metrics('sourcegraph', 'usage') %}
        {{ expression }} as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('stg_sourcegraph_usage_by_user_day_client_language') }} as usage
    inner join {{ ref('ai_analytics_identities') }} as identities
        on identities.instance_url = usage.instance_url
        and identities.instance_user_id = usage.instance_user_id
),

usage as (
    select * from augment
    union all
    select * from sourcegraph
)

select
    {{ dbt.concat([
        'vendor', "'|'", 'cast(activity_date as ' ~ dbt.type_string() ~ ')', "'|'",
        'client_name', "'|'", 'language'
    ]) }} as usage_segment_id,
    activity_date,
    vendor,
    client_name,
    language,
    count(distinct case when {{ ai_analytics_people_filter('usage') }} then person_id end)
        as active_people,
    sum(suggestions_shown) as suggestions_shown,
    sum(suggestions_accepted) as suggestions_accepted,
    {{ ai_analytics_ratio('sum(suggestions_accepted)', 'sum(suggestions_shown)') }} as acceptance_rate,
    sum(lines_accepted) as lines_accepted,
    sum(lines_written) as lines_written,
    sum(chat_messages) as chat_messages
from usage
group by activity_date, vendor, client_name, language
