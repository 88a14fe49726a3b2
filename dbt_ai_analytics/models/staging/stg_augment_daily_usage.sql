-- augment_daily_usage: one row per primary key (activity_date), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'augment_daily_usage',
    'augment',
    columns=[
        'date:date:activity_date',
        'total_modified_lines_of_code:integer',
        'total_messages:integer',
        'total_tool_calls:integer',
        'completions_count:integer',
        'completions_accepted:integer',
        'completions_lines_of_code:integer',
        'completions_suggested_lines_of_code:integer',
        'chat_messages:integer',
        'remote_agent_messages:integer',
        'remote_agent_lines_of_code:integer',
        'ide_agent_messages:integer',
        'ide_agent_lines_of_code:integer',
        'cli_agent_interactive_messages:integer',
        'cli_agent_interactive_lines_of_code:integer',
        'cli_agent_non_interactive_messages:integer',
        'cli_agent_non_interactive_lines_of_code:integer',
    ],
    key=['activity_date']
) }}
