"""Record schemas: the Augment metrics and the Sourcegraph CSV columns, typed.

Field names here are a public contract (warehouse tables are built from them).
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

from singer_sdk import typing as th

#: The documented Augment metrics, flattened into top-level integer columns.
AUGMENT_METRICS: tuple[str, ...] = (
    "total_modified_lines_of_code",
    "total_messages",
    "total_tool_calls",
    "completions_count",
    "completions_accepted",
    "completions_lines_of_code",
    "completions_suggested_lines_of_code",
    "chat_messages",
    "remote_agent_messages",
    "remote_agent_lines_of_code",
    "ide_agent_messages",
    "ide_agent_lines_of_code",
    "cli_agent_interactive_messages",
    "cli_agent_interactive_lines_of_code",
    "cli_agent_non_interactive_messages",
    "cli_agent_non_interactive_lines_of_code",
)

_IDENTITY = (
    th.Property(
        "identity",
        th.StringType(nullable=False),
        required=True,
        description="The user's email, or the service account's name: never null.",
    ),
    th.Property(
        "identity_type",
        th.StringType(nullable=False, allowed_values=["user", "service_account"]),
        required=True,
        description="'user' (identity is an email) or 'service_account'.",
    ),
    th.Property("user_email", th.StringType, description="Email of a user, as sent."),
    th.Property(
        "service_account_name", th.StringType, description="Name of a service account, as sent."
    ),
)

_DATE = th.Property(
    "date", th.DateType(nullable=False), required=True, description="UTC calendar date."
)

_EXTRA_METRICS = th.Property(
    "extra_metrics",
    th.ObjectType(additional_properties=True),
    description="Metrics the API sent that this version does not know yet (name → value).",
)


def key_string(name: str, description: str) -> th.Property[t.Any]:
    """A string property that is part of a primary key: required, never null.

    Args:
        name: The field name.
        description: What it holds (and what replaces a value the API does not send).

    Returns:
        The property.
    """
    return th.Property(name, th.StringType(nullable=False), required=True, description=description)


def augment_schema(
    *fields: th.Property[t.Any],
    identity: bool = False,
    metrics: bool = False,
    extra_metrics: bool = False,
) -> dict[str, t.Any]:
    """Build an Augment stream schema: date, identity, own fields, flattened metrics.

    Args:
        fields: The stream's own properties.
        identity: Whether records identify a user or service account.
        metrics: Whether records carry the metrics object (flattened).
        extra_metrics: Whether records have ``extra_metrics`` (implied by ``metrics``).

    Returns:
        The JSON schema.
    """
    properties: list[th.Property[t.Any]] = [_DATE]
    if identity:
        properties.extend(_IDENTITY)
    properties.extend(fields)
    if metrics:
        properties.extend(
            th.Property(key, th.IntegerType, description="Augment metric (null when not sent).")
            for key in AUGMENT_METRICS
        )
    if metrics or extra_metrics:
        properties.append(_EXTRA_METRICS)
    return th.PropertiesList(*properties).to_dict()


# -- Sourcegraph ---------------------------------------------------------------------


def column_field_name(header: str) -> str:
    """Map a CSV header to its field name: lowercase, runs of non-alphanumerics → ``_``.

    ``Timestamp Date`` and ``Timestamp Month`` become ``date`` and ``month``.

    Args:
        header: The CSV header cell.

    Returns:
        The field name.
    """
    name = re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")
    return {"timestamp_date": "date", "timestamp_month": "month"}.get(name, name)


@dataclasses.dataclass(frozen=True)
class Column:
    """A documented Sourcegraph CSV column."""

    header: str
    kind: t.Literal["integer", "number", "boolean", "string", "key_string", "date", "month"]
    description: str

    @property
    def field(self) -> str:
        """The record field name."""
        return column_field_name(self.header)

    def property(self, *, required: bool = False) -> th.Property[t.Any]:
        """The column as a schema property."""
        wrapped = {
            "integer": th.IntegerType,
            "number": th.NumberType,
            "boolean": th.BooleanType,
            "string": th.StringType,
            "key_string": th.StringType,
            "date": th.DateType,
            "month": th.DateType,
        }[self.kind]
        return th.Property(
            self.field,
            wrapped(nullable=False) if required else wrapped,
            required=required,
            description=self.description,
        )


def _c(header: str, kind: str, description: str) -> Column:
    return Column(header, kind, description)  # type: ignore[arg-type]


USER_ID = _c("Instance user ID", "integer", "Numeric ID of the user on the Sourcegraph instance.")
TIMESTAMP_DATE = _c("Timestamp Date", "date", "UTC date of the activity.")
TIMESTAMP_MONTH = _c("Timestamp Month", "month", "First day of the activity's month (UTC).")
CLIENT_NAME = _c(
    "Client Name", "key_string", "Client, e.g. vscode.cody or server.web ('' when blank)."
)
LANGUAGE = _c("Language", "key_string", "Programming language ('' when blank).")

#: Every documented usage column except the grain's own dimensions, in CSV order.
USAGE_COLUMNS: tuple[Column, ...] = (
    _c("User Email", "string", "Email; blank on self-hosted instances without the addendum."),
    _c("Username", "string", "Username; blank on self-hosted instances without the addendum."),
    _c("Active Sourcegraph User", "boolean", "Whether the activity in this row is billable."),
    _c("Searches", "integer", "Searches in the web UI (API searches excluded)."),
    _c("Code Navigation Events", "integer", "Code navigation actions."),
    _c("Code Insight Views", "integer", "Code insight views."),
    _c("Chat Events", "integer", "Cody chats executed."),
    _c("Command Events", "integer", "Cody commands executed."),
    _c("Combined Completion Suggestions", "integer", "Completion suggestions offered."),
    _c("Combined Completion Acceptances", "integer", "Completions accepted."),
    _c("Total Accepted Char Count", "integer", "Characters of accepted completions."),
    _c("Combined CAR", "number", "Completion acceptance rate (ratio)."),
    _c("Weighted CAR", "number", "Completion acceptance rate weighted by characters (ratio)."),
    _c("Total Characters Written by Cody", "integer", "Characters inserted from Cody."),
    _c("Total Characters Written", "integer", "All characters inserted."),
    _c(
        "Percentage of Code Written by Cody",
        "number",
        "Characters written by Cody / all characters written, times 100.",
    ),
    _c("Auto-edit suggested events", "integer", "Auto-edit suggestions offered."),
    _c("Auto-edit accepted events", "integer", "Auto-edit suggestions accepted."),
    _c("Auto-edit acceptance rate", "number", "Auto-edit acceptance rate (ratio)."),
    _c("Lines changed by chats and commands", "integer", "Lines changed by chats and commands."),
    _c(
        "Lines changed by completions and auto-edits",
        "integer",
        "Lines changed by completions and auto-edits.",
    ),
)

REGISTRY_COLUMNS: tuple[Column, ...] = (
    _c("Service Account", "boolean", "Whether the user is a service account."),
    _c("Site Admin", "boolean", "Whether the user is a site administrator."),
)

#: Every documented column by field name (headers are matched after normalisation).
KNOWN_COLUMNS: dict[str, Column] = {
    column.field: column
    for column in (
        USER_ID,
        TIMESTAMP_DATE,
        TIMESTAMP_MONTH,
        CLIENT_NAME,
        LANGUAGE,
        *USAGE_COLUMNS,
        *REGISTRY_COLUMNS,
    )
}

_INSTANCE_URL = th.Property(
    "instance_url",
    th.StringType(nullable=False),
    required=True,
    description="The Sourcegraph instance (bare host) the row belongs to.",
)

_EXTRA_COLUMNS = th.Property(
    "extra_columns",
    th.ObjectType(additional_properties=True),
    description=(
        "Columns Sourcegraph added after this version, as field name → raw text (null "
        "when there are none)."
    ),
)


def sourcegraph_schema(
    key_columns: tuple[Column, ...], columns: tuple[Column, ...]
) -> dict[str, t.Any]:
    """Build a Sourcegraph report schema: instance, key columns, other columns, extras.

    Args:
        key_columns: The report's primary-key columns (never null).
        columns: The other typed columns.

    Returns:
        The JSON schema.
    """
    return th.PropertiesList(
        _INSTANCE_URL,
        *(column.property(required=True) for column in key_columns),
        *(column.property() for column in columns),
        _EXTRA_COLUMNS,
    ).to_dict()
