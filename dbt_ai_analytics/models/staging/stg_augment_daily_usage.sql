-- augment_daily_usage: one row per primary key (activity_date), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'augment_daily_usage',
    'augment',
    columns=[
        'date:date:activity_date'
    ]
    + ai_analytics_augment_metric_columns(),
    key=['activity_date']
) }}
