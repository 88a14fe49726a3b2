-- augment_daily_active_users: one row per primary key (activity_date, identity), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'augment_daily_active_users',
    'augment',
    columns=[
        'date:date:activity_date'
    ]
    + ai_analytics_identity_columns(),
    key=['activity_date', 'identity']
) }}
