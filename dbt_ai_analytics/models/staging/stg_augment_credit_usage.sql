-- augment_credit_usage: one row per primary key (activity_date, identity, model_name), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'augment_credit_usage',
    'augment',
    columns=[
        'date:date:activity_date'
    ]
    + ai_analytics_identity_columns()
    + [
        'model_name:blank_key',
        'credits_consumed:money'
    ],
    key=['activity_date', 'identity', 'model_name']
) }}
