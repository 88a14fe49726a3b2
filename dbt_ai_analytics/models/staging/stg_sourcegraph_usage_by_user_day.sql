-- sourcegraph_usage_by_user_day: one row per primary key (instance_url, instance_user_id, activity_date), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'sourcegraph_usage_by_user_day',
    'sourcegraph',
    columns=[
        'instance_url:string',
        'instance_user_id:integer',
        'date:date:activity_date'
    ]
    + ai_analytics_sourcegraph_usage_columns(),
    key=['instance_url', 'instance_user_id', 'activity_date']
) }}
