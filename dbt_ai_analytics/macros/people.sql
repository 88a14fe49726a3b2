{% macro ai_analytics_email(expression) %}
    {#- The identity join key: the email trimmed and lower-cased; blank is NULL. -#}
    nullif(lower(trim({{ expression }})), '')
{% endmacro %}


{% macro ai_analytics_people_filter(alias) %}
    {#- Whether a row counts towards "people" metrics (service accounts only when enabled). -#}
    {%- if var('ai_analytics_include_service_accounts') -%}
        1 = 1
    {%- else -%}
        not {{ alias }}.is_service_account
    {%- endif -%}
{% endmacro %}


{% macro ai_analytics_ratio(numerator, denominator) %}
    cast({{ numerator }} as {{ dbt.type_float() }}) / nullif({{ denominator }}, 0)
{% endmacro %}


{% macro ai_analytics_vendors() %}
    {#- The vendors this project loads, as a one-column relation (vendor). -#}
    {%- for vendor in var('ai_analytics_vendors') %}
    select cast('{{ vendor }}' as {{ dbt.type_string() }}) as vendor
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{% endmacro %}
