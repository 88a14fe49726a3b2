{% test ai_analytics_unique_combination(model, columns) %}
    {#- Fails with every combination of `columns` that occurs more than once. -#}
    select {{ columns | join(', ') }}, count(*) as copies
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
