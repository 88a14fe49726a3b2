-- One row per person, vendor and day with activity: the common metric vocabulary, plus the
-- vendor-only metrics as vendor-prefixed columns (NULL for the other vendor). A person
-- with several identities on one vendor (e.g. two Sourcegraph instances) gets one row.


with augment_active as (
    -- Active users come from dau; metrics from user-activity (either may be loaded alone).
    select distinct activity_date, identity
    from (
        select activity_date, identity from {{ ref('stg_augment_daily_active_users') }}
        union all
        select activity_date, identity from {{ ref('stg_augment_user_activity') }}
    ) as seen
),

augment as (
    select
        active.activity_date,
        identities.person_id,
        cast('augment' as {{ dbt.type_string() }}) as vendor,
        max(case when identities.is_service_account then 1 else 0 end) as service_account_flag,
        count(*) as identity_count,
        {%- for name, expression in ai_analytics_common_metrics('augment', 'activity') %}
        sum({{ expression }}) as {{ name }},
        {%- endfor %}
        sum(
            coalesce(activity.ide_agent_messages, 0)
            + coalesce(activity.remote_agent_messages, 0)
            + coalesce(activity.cli_agent_interactive_messages, 0)
            + coalesce(activity.cli_agent_non_interactive_messages, 0)
        ) as agent_interactions,
        cast(null as {{ dbt.type_bigint() }}) as searches,
        sum(activity.total_messages) as augment_total_messages,
        sum(activity.total_tool_calls) as augment_total_tool_calls,
        sum(activity.completions_suggested_lines_of_code) as augment_completions_suggested_lines_of_code,
        sum(activity.ide_agent_messages) as augment_ide_agent_messages,
        sum(
            coalesce(activity.cli_agent_interactive_messages, 0)
            + coalesce(activity.cli_agent_non_interactive_messages, 0)
        ) as augment_cli_agent_messages,
        cast(null as {{ dbt.type_bigint() }}) as sourcegraph_code_navigation_events,
        cast(null as {{ dbt.type_bigint() }}) as sourcegraph_command_events,
        cast(null as {{ dbt.type_bigint() }}) as sourcegraph_auto_edit_suggested_events,
        cast(null as {{ dbt.type_bigint() }}) as sourcegraph_auto_edit_accepted_events,
        cast(null as {{ dbt.type_bigint() }}) as sourcegraph_characters_written_by_cody,
        cast(null as {{ dbt.type_bigint() }}) as sourcegraph_characters_written,
        cast(null as {{ dbt.type_bigint() }}) as sourcegraph_accepted_char_count,
        cast(null as {{ dbt.type_int() }}) as sourcegraph_billable_flag
    from augment_active as active
    inner join {{ ref('ai_analytics_identities') }} as identities
        on identities.identity_key = {{ dbt.concat(["'augment:'", 'active.identity']) }}
    left join {{ ref('stg_augment_user_activity') }} as activity
        on activity.activity_date = active.activity_date
        and activity.identity = active.identity
    group by active.activity_date, identities.person_id
),

sourcegraph_fine as (
    -- The client/language report summed to the user-day (the by_user_day report's grain).
    select
        instance_url,
        instance_user_id,
        activity_date,
        max(case when is_billable_activity then 1 else 0 end) as billable_flag
        {%- for metric in ai_analytics_sourcegraph_metrics() %},
        sum({{ metric }}) as {{ metric }}
        {%- endfor %}
    from {{ ref('stg_sourcegraph_usage_by_user_day_client_language') }}
    group by instance_url, instance_user_id, activity_date
),

sourcegraph_user_days as (
    select * from sourcegraph_fine
    union all
    -- The day report only fills user-days the client/language report did not load.
    select
        day_report.instance_url,
        day_report.instance_user_id,
        day_report.activity_date,
        case when day_report.is_billable_activity then 1 else 0 end as billable_flag
        {%- for metric in ai_analytics_sourcegraph_metrics() %},
        day_report.{{ metric }}
        {%- endfor %}
    from {{ ref('stg_sourcegraph_usage_by_user_day') }} as day_report
    where not exists (
        select 1
        from sourcegraph_fine
        where sourcegraph_fine.instance_url = day_report.instance_url
            and sourcegraph_fine.instance_user_id = day_report.instance_user_id
            and sourcegraph_fine.activity_date = day_report.activity_date
    )
),

sourcegraph as (
    select
        days.activity_date,
        identities.person_id,
        cast('sourcegraph' as {{ dbt.type_string() }}) as vendor,
        max(case when identities.is_service_account then 1 else 0 end) as service_account_flag,
        count(*) as identity_count,
        {%- for name, expression in ai_analytics_common_metrics('sourcegraph', 'days') %}
        sum({{ expression }}) as {{ name }},
        {%- endfor %}
        cast(null as {{ dbt.type_bigint() }}) as agent_interactions,
        sum(days.searches) as searches,
        cast(null as {{ dbt.type_bigint() }}) as augment_total_messages,
        cast(null as {{ dbt.type_bigint() }}) as augment_total_tool_calls,
        cast(null as {{ dbt.type_bigint() }}) as augment_completions_suggested_lines_of_code,
        cast(null as {{ dbt.type_bigint() }}) as augment_ide_agent_messages,
        cast(null as {{ dbt.type_bigint() }}) as augment_cli_agent_messages,
        sum(days.code_navigation_events) as sourcegraph_code_navigation_events,
        sum(days.command_events) as sourcegraph_command_events,
        sum(days.auto_edit_suggested_events) as sourcegraph_auto_edit_suggested_events,
        sum(days.auto_edit_accepted_events) as sourcegraph_auto_edit_accepted_events,
        sum(days.total_characters_written_by_cody) as sourcegraph_characters_written_by_cody,
        sum(days.total_characters_written) as sourcegraph_characters_written,
        sum(days.total_accepted_char_count) as sourcegraph_accepted_char_count,
        max(days.billable_flag) as sourcegraph_billable_flag
    from sourcegraph_user_days as days
    inner join {{ ref('ai_analytics_identities') }} as identities
        on identities.instance_url = days.instance_url
        and identities.instance_user_id = days.instance_user_id
    group by days.activity_date, identities.person_id
),

unioned as (
    select * from augment
    union all
    select * from sourcegraph
)

select
    {{ dbt.concat([
        'vendor', "'|'", 'person_id', "'|'", 'cast(activity_date as ' ~ dbt.type_string() ~ ')'
    ]) }} as usage_day_id,
    activity_date,
    vendor,
    person_id,
    service_account_flag = 1 as is_service_account,
    true as is_active,
    identity_count,
    suggestions_shown,
    suggestions_accepted,
    {{ ai_analytics_ratio('suggestions_accepted', 'suggestions_shown') }} as acceptance_rate,
    lines_accepted,
    lines_written,
    chat_messages,
    agent_interactions,
    searches,
    augment_total_messages,
    augment_total_tool_calls,
    augment_completions_suggested_lines_of_code,
    augment_ide_agent_messages,
    augment_cli_agent_messages,
    sourcegraph_code_navigation_events,
    sourcegraph_command_events,
    sourcegraph_auto_edit_suggested_events,
    sourcegraph_auto_edit_accepted_events,
    sourcegraph_characters_written_by_cody,
    sourcegraph_characters_written,
    sourcegraph_accepted_char_count,
    case when sourcegraph_billable_flag is null then null else sourcegraph_billable_flag = 1 end
        as sourcegraph_is_billable
from unioned
