-- Reconciliation: Sourcegraph metrics in the fact, summed per day, equal the by_user_day
-- report's totals on every day that report was loaded for (the fact is built from the
-- client/language report where it has the day).

{% set metrics = [
    ('searches', 'searches'),
    ('chat_messages', 'chat_events'),
    ('suggestions_shown', 'combined_completion_suggestions'),
    ('suggestions_accepted', 'combined_completion_acceptances'),
    ('lines_accepted', 'lines_changed_by_completions_and_auto_edits'),
    ('sourcegraph_command_events', 'command_events'),
    ('sourcegraph_characters_written', 'total_characters_written'),
] %}

with report as (
    select
        activity_date,
        count(*) as user_days
        {%- for _, column in metrics %},
        coalesce(sum({{ column }}), 0) as {{ column }}
        {%- endfor %}
    from {{ ref('stg_sourcegraph_usage_by_user_day') }}
    group by activity_date
),

fact as (
    select
        activity_date,
        sum(identity_count) as user_days
        {%- for name, _ in metrics %},
        coalesce(sum({{ name }}), 0) as {{ name }}
        {%- endfor %}
    from {{ ref('ai_analytics_usage_daily') }}
    where vendor = 'sourcegraph'
    group by activity_date
)

select report.activity_date
from report
left join fact
    on fact.activity_date = report.activity_date
where fact.activity_date is null
    or fact.user_days <> report.user_days
    {%- for name, column in metrics %}
    or fact.{{ name }} <> report.{{ column }}
    {%- endfor %}
