-- sourcegraph_usage_by_user_month: one row per primary key (instance_url, instance_user_id, month_start), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'sourcegraph_usage_by_user_month',
    'sourcegraph',
    columns=[
        'instance_url:string',
        'instance_user_id:integer',
        'month:date:month_start'
    ]
    + ai_analytics_sourcegraph_usage_columns(),
    key=['instance_url', 'instance_user_id', 'month_start']
) }}
