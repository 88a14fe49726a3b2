-- augment_daily_active_users: one row per primary key (activity_date, identity), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'augment_daily_active_users',
    'augment',
    columns=[
        'date:date:activity_date',
        'identity:string',
        'identity_type:string',
        'user_email:string',
        'service_account_name:string',
    ],
    key=['activity_date', 'identity']
) }}
