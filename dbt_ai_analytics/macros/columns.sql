{#- Column lists shared by several streams ("source:kind[:model name]", see stream.sql). -#}

{% macro ai_analytics_identity_columns() %}
    {#- Who an Augment per-user record is about. -#}
    {{ return([
        'identity:string',
        'identity_type:string',
        'user_email:string',
        'service_account_name:string',
    ]) }}
{% endmacro %}


{% macro ai_analytics_augment_metric_columns() %}
    {#- The documented Augment metrics (tap_ai_analytics.schemas.AUGMENT_METRICS). -#}
    {%- set metrics = [
        'total_modified_lines_of_code', 'total_messages', 'total_tool_calls',
        'completions_count', 'completions_accepted', 'completions_lines_of_code',
        'completions_suggested_lines_of_code', 'chat_messages', 'remote_agent_messages',
        'remote_agent_lines_of_code', 'ide_agent_messages', 'ide_agent_lines_of_code',
        'cli_agent_interactive_messages', 'cli_agent_interactive_lines_of_code',
        'cli_agent_non_interactive_messages', 'cli_agent_non_interactive_lines_of_code'
    ] -%}
    {%- set columns = [] -%}
    {%- for metric in metrics -%}{%- do columns.append(metric ~ ':integer') -%}{%- endfor -%}
    {{ return(columns) }}
{% endmacro %}


{% macro ai_analytics_sourcegraph_metrics() %}
    {#- The Sourcegraph usage metrics that add up across a report's groupings. -#}
    {{ return([
        'searches', 'code_navigation_events', 'code_insight_views', 'chat_events',
        'command_events', 'combined_completion_suggestions', 'combined_completion_acceptances',
        'total_accepted_char_count', 'total_characters_written_by_cody',
        'total_characters_written', 'auto_edit_suggested_events', 'auto_edit_accepted_events',
        'lines_changed_by_chats_and_commands', 'lines_changed_by_completions_and_auto_edits',
    ]) }}
{% endmacro %}


{% macro ai_analytics_sourcegraph_usage_columns() %}
    {#- The usage report columns other than the report's grain (schemas.USAGE_COLUMNS). -#}
    {%- set columns = [
        'user_email:string',
        'username:string',
        'active_sourcegraph_user:boolean:is_billable_activity',
        'combined_car:number',
        'weighted_car:number',
        'percentage_of_code_written_by_cody:number',
        'auto_edit_acceptance_rate:number',
    ] -%}
    {%- for metric in ai_analytics_sourcegraph_metrics() -%}
        {%- do columns.append(metric ~ ':integer') -%}
    {%- endfor -%}
    {{ return(columns) }}
{% endmacro %}


{% macro ai_analytics_common_metrics(vendor, alias) %}
    {#- The metrics both vendors have, as [name, expression over a row of alias]: the
        one definition of the cross-vendor vocabulary, for every mart that uses it. -#}
    {%- if vendor == 'augment' -%}
        {{ return([
            ['suggestions_shown', alias ~ '.completions_count'],
            ['suggestions_accepted', alias ~ '.completions_accepted'],
            ['lines_accepted', alias ~ '.completions_lines_of_code'],
            ['lines_written', alias ~ '.total_modified_lines_of_code'],
            ['chat_messages', alias ~ '.chat_messages'],
        ]) }}
    {%- elif vendor == 'sourcegraph' -%}
        {{ return([
            ['suggestions_shown', alias ~ '.combined_completion_suggestions'],
            ['suggestions_accepted', alias ~ '.combined_completion_acceptances'],
            ['lines_accepted', alias ~ '.lines_changed_by_completions_and_auto_edits'],
            ['lines_written', 'coalesce(' ~ alias ~ '.lines_changed_by_chats_and_commands, 0) + coalesce('
                ~ alias ~ '.lines_changed_by_completions_and_auto_edits, 0)'],
            ['chat_messages', alias ~ '.chat_events'],
        ]) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown vendor " ~ vendor) }}
    {%- endif -%}
{% endmacro %}
