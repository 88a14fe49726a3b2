-- augment_cost: one row per primary key (activity_date, resource_type, resource_display_name), typed and renamed; see _staging.yml.
{{ ai_analytics_stream(
    'augment_cost',
    'augment',
    columns=[
        'date:date:activity_date',
        'end_date:date',
        'resource_type:blank_key',
        'resource_display_name:string',
        'input_tokens:integer',
        'output_tokens:integer',
        'cache_read_tokens:integer',
        'cache_write_tokens:integer',
        'credits_consumed:money',
        'billed_amount_usd:money',
        'estimated_customer_cost_usd:money',
        'base_cost_usd:money'
    ],
    key=['activity_date', 'resource_type', 'resource_display_name']
) }}
