-- sourcegraph_usage_by_user_day_client_language: one row per primary key (instance_url, instance_user_id, activity_date, client_name, language), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'sourcegraph_usage_by_user_day_client_language',
    'sourcegraph',
    columns=[
        'instance_url:string',
        'instance_user_id:integer',
        'date:date:activity_date',
        'client_name:blank_key',
        'language:blank_key'
    ]
    + ai_analytics_sourcegraph_usage_columns(),
    key=['instance_url', 'instance_user_id', 'activity_date', 'client_name', 'language']
) }}
