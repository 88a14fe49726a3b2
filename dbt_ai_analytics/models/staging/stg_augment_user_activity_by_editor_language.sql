-- augment_user_activity_by_editor_language: one row per primary key (activity_date, identity, client_name, language), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'augment_user_activity_by_editor_language',
    'augment',
    columns=[
        'date:date:activity_date'
    ]
    + ai_analytics_identity_columns()
    + [
        'editor:blank_key:client_name',
        'language:blank_key'
    ]
    + ai_analytics_augment_metric_columns(),
    key=['activity_date', 'identity', 'client_name', 'language']
) }}
