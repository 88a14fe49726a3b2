-- sourcegraph_user_registry: one row per primary key (instance_url, instance_user_id), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'sourcegraph_user_registry',
    'sourcegraph',
    columns=[
        'instance_url:string',
        'instance_user_id:integer',
        'service_account:boolean:is_service_account',
        'site_admin:boolean:is_site_admin'
    ],
    key=['instance_url', 'instance_user_id']
) }}
