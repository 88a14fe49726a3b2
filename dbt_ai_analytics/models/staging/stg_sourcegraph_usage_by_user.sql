-- sourcegraph_usage_by_user: one row per primary key (instance_url, instance_user_id), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'sourcegraph_usage_by_user',
    'sourcegraph',
    columns=[
        'instance_url:string',
        'instance_user_id:integer'
    ]
    + ai_analytics_sourcegraph_usage_columns(),
    key=['instance_url', 'instance_user_id']
) }}
