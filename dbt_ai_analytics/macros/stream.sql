{#-
  Reading the tap's tables: typed, renamed and de-duplicated, or empty when not loaded.

  A column is described as "source_name:kind" or "source_name:kind:model_name"; kinds are
  date, string, integer, number (float), money (exact numeric), boolean and blank_key (a
  text key part whose blank may arrive as "", NULL or "(blank)": always ""). Loaders differ in
  how they store a field (a date or a count may arrive as text), so every column is cast.
-#}

{% macro ai_analytics_stream_relation(stream, vendor) %}
    {#- The loaded table of a stream, or none when its vendor/stream is not loaded. -#}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- if vendor not in var('ai_analytics_vendors') -%}{{ return(none) }}{%- endif -%}
    {%- set streams = var('ai_analytics_streams') -%}
    {%- if streams is not none and stream not in streams -%}{{ return(none) }}{%- endif -%}
    {{ return(adapter.get_relation(
        database=var('ai_analytics_source_database') or target.database,
        schema=var('ai_analytics_source_schema'),
        identifier=stream,
    )) }}
{% endmacro %}


{% macro ai_analytics_type(kind) %}
    {%- if kind == 'date' -%}date
    {%- elif kind in ('string', 'blank_key') -%}{{ dbt.type_string() }}
    {%- elif kind == 'integer' -%}{{ dbt.type_bigint() }}
    {%- elif kind == 'number' -%}{{ dbt.type_float() }}
    {%- elif kind == 'money' -%}{{ dbt.type_numeric() }}
    {%- elif kind == 'boolean' -%}{{ dbt.type_boolean() }}
    {%- else -%}{{ exceptions.raise_compiler_error('unknown column kind ' ~ kind) }}
    {%- endif -%}
{% endmacro %}


{% macro ai_analytics_cast(expression, kind) %}
    {%- if kind == 'date' -%}
        {#- Via text: a date column, 'YYYY-MM-DD' text and a midnight timestamp all work. -#}
        cast(substring(cast({{ expression }} as {{ dbt.type_string() }}), 1, 10) as date)
    {%- elif kind == 'blank_key' -%}
        {{ ai_analytics_blank_key('cast(' ~ expression ~ ' as ' ~ dbt.type_string() ~ ')') }}
    {%- else -%}
        cast({{ expression }} as {{ ai_analytics_type(kind) }})
    {%- endif -%}
{% endmacro %}


{% macro ai_analytics_parse_columns(columns) %}
    {%- set parsed = [] -%}
    {%- for spec in columns -%}
        {%- set parts = spec.split(':') -%}
        {%- do parsed.append({
            'source': parts[0],
            'kind': parts[1],
            'name': parts[2] if parts | length > 2 else parts[0],
        }) -%}
    {%- endfor -%}
    {{ return(parsed) }}
{% endmacro %}


{% macro ai_analytics_stream(stream, vendor, columns, key) %}
    {#-
      One row per primary key: the newest extraction of it (the first configured loader
      metadata column present in the table, newest first), ties and tables without metadata
      broken by the row's own values, so the answer never depends on load order.
      `key` lists model column names.
    -#}
    {%- set parsed = ai_analytics_parse_columns(columns) -%}
    {%- set relation = ai_analytics_stream_relation(stream, vendor) -%}
    {%- if relation is none -%}
        select
        {%- for column in parsed %}
            cast(null as {{ ai_analytics_type(column.kind) }}) as {{ column.name }}{{ "," if not loop.last }}
        {%- endfor %}
        from (select 1 as one) as not_loaded
        where 1 = 0
    {%- else -%}
        {%- set present = {} -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do present.update({column.name | lower: column.name}) -%}
        {%- endfor -%}
        {%- set order_column = [] -%}
        {%- for candidate in var('ai_analytics_extracted_at_columns') -%}
            {%- if candidate | lower in present and not order_column -%}
                {%- do order_column.append(adapter.quote(present[candidate | lower])) -%}
            {%- endif -%}
        {%- endfor %}
        with typed as (
            select
            {%- for column in parsed %}
                {%- if column.source | lower in present %}
                {{ ai_analytics_cast(adapter.quote(present[column.source | lower]), column.kind) }} as {{ column.name }},
                {%- else %}
                cast(null as {{ ai_analytics_type(column.kind) }}) as {{ column.name }},
                {%- endif %}
            {%- endfor %}
                {% if order_column -%}
                cast({{ order_column[0] }} as {{ dbt.type_string() }})
                {%- else -%}
                cast(null as {{ dbt.type_string() }})
                {%- endif %} as ai_analytics_extracted_at
            from {{ relation }}
        ),

        ranked as (
            select
                typed.*,
                row_number() over (
                    partition by {{ key | join(', ') }}
                    order by
                        {#- ISO timestamps as text sort in time order on every database. #}
                        ai_analytics_extracted_at desc nulls last
                    {%- for column in parsed if column.name not in key %},
                        cast({{ column.name }} as {{ dbt.type_string() }}) desc nulls last
                    {%- endfor %}
                ) as ai_analytics_copy
            from typed
        )

        select
        {%- for column in parsed %}
            {{ column.name }}{{ "," if not loop.last }}
        {%- endfor %}
        from ranked
        where ai_analytics_copy = 1
    {%- endif -%}
{% endmacro %}


{% macro ai_analytics_blank_key(expression) %}
    {#-
      Sourcegraph sends a blank client or language as "", which some loaders store as NULL
      (and the demo's DuckDB loader as "(blank)"): one value, "", whatever the loader did.
    -#}
    coalesce(nullif(nullif(trim({{ expression }}), '(blank)'), ''), '')
{% endmacro %}
