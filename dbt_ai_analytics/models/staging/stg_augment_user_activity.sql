-- augment_user_activity: one row per primary key (activity_date, identity), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'augment_user_activity',
    'augment',
    columns=[
        'date:date:activity_date'
    ]
    + ai_analytics_identity_columns()
    + [
        'active_days:integer'
    ]
    + ai_analytics_augment_metric_columns(),
    key=['activity_date', 'identity']
) }}
