-- Augment cost per day and resource (a model, or a compute resource), from the stream
-- augment_cost, with the credits the organisation's users consumed on that model that day
-- (stream augment_credit_usage; NULL when not loaded). Empty when augment_cost is not loaded.

with credits_by_model as (
    select activity_date, model_name, sum(credits_consumed) as user_credits_consumed
    from {{ ref('stg_augment_credit_usage') }}
    group by activity_date, model_name
)

select
    {{ dbt.concat([
        'cast(cost.activity_date as ' ~ dbt.type_string() ~ ')', "'|'",
        'cost.resource_type', "'|'", 'cost.resource_display_name'
    ]) }} as cost_id,
    cost.activity_date,
    cost.resource_type,
    cost.resource_display_name,
    cost.input_tokens,
    cost.output_tokens,
    cost.cache_read_tokens,
    cost.cache_write_tokens,
    cost.credits_consumed,
    cost.billed_amount_usd,
    cost.estimated_customer_cost_usd,
    cost.base_cost_usd,
    credits_by_model.user_credits_consumed
from {{ ref('stg_augment_cost') }} as cost
left join credits_by_model
    on credits_by_model.activity_date = cost.activity_date
    and credits_by_model.model_name = cost.resource_display_name
