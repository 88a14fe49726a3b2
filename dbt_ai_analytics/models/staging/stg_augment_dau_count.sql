-- augment_dau_count: one row per primary key (activity_date), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'augment_dau_count',
    'augment',
    columns=[
        'date:date:activity_date',
        'user_count:integer:active_user_count'
    ],
    key=['activity_date']
) }}
