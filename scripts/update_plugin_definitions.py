#!/usr/bin/env python3
"""Regenerate the Meltano plugin definitions from the tap's ``--about`` output.

Writes ``plugin.yaml`` (for ``meltano add tap-ai-analytics --from-ref=<raw URL>``) and
the MeltanoHub definition ``hub/_data/meltano/extractors/tap-ai-analytics/tap-ai-analytics.yml``
(the two are identical). Settings, capabilities and Python versions come from
``tap-ai-analytics --about --format=json``, mapped to Meltano setting kinds the way MeltanoHub's
weekly metadata refresh maps them (so the Hub never rewrites them), except that secrets are
recognised by the schema's ``secret`` flag rather than by their names. Everything else (label,
links, quality, default selection, ...) is in ``HUB_METADATA`` below.

Run it after changing a setting: ``python3 scripts/update_plugin_definitions.py``. The settings
block of ``meltano.yml`` is hand-written (it has comments); ``tests/test_hub.py`` checks that it,
and these files, agree with the tap.
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_YAML = ROOT / "plugin.yaml"
HUB_DEFINITION = (
    ROOT / "hub" / "_data" / "meltano" / "extractors" / "tap-ai-analytics" / "tap-ai-analytics.yml"
)

REPOSITORY = "https://github.com/tap-ai-analytics/tap-ai-analytics"
#: The data sources, for the listing's links.
VENDOR_API_DOCS = {
    "Augment Code": "https://docs.augmentcode.com/analytics/api-reference",
    "Sourcegraph": "https://sourcegraph.com/docs/analytics/api",
}

#: What ``--about`` cannot say. Keys are sorted on output (MeltanoHub's yamllint requires it).
HUB_METADATA: dict[str, t.Any] = {
    "name": "tap-ai-analytics",
    "namespace": "tap_ai_analytics",
    "variant": "tap-ai-analytics",
    "label": "AI Coding Assistant Analytics",
    # Hub style: one short line saying what the data is (the Hub prints it under the label).
    "description": "AI coding assistant usage analytics from Augment Code and Sourcegraph",
    # The Hub has one domain_url per plugin: the first vendor's API. Both vendors' API pages are
    # linked from the listing's "usage" text below.
    "domain_url": VENDOR_API_DOCS["Augment Code"],
    "logo_url": "/assets/logos/extractors/tap-ai-analytics.png",
    "docs": "https://github.com/tap-ai-analytics/tap-ai-analytics#readme",
    "repo": REPOSITORY,
    # From the repository until the first PyPI release; then "tap-ai-analytics".
    "pip_url": f"git+{REPOSITORY}.git",
    "executable": "tap-ai-analytics",
    "keywords": ["api", "meltano_sdk"],
    "log_parser": "singer-sdk",
    "maintenance_status": "active",
    "quality": "silver",
    # The Sourcegraph day, month and per-user reports are other groupings of the same
    # activity as the client/language report: selecting one Sourcegraph grain by default
    # avoids downloading the same data four times.
    "select": [
        "augment_dau_count.*",
        "augment_daily_active_users.*",
        "augment_daily_usage.*",
        "augment_user_activity.*",
        "augment_user_activity_by_editor_language.*",
        "sourcegraph_usage_by_user_day_client_language.*",
    ],
    "settings_group_validation": [
        ["augment_api_token"],
        ["sourcegraph_access_token", "sourcegraph_instance_urls"],
    ],
    "settings_preamble": (
        "Configure at least one vendor: `augment_api_token` for Augment Code, and/or "
        "`sourcegraph_access_token` with `sourcegraph_instance_urls` for Sourcegraph. Each "
        "vendor's streams exist only when it is configured."
    ),
    "usage": (
        "Data sources: "
        + " and ".join(
            f"[{vendor} Analytics API]({url})" for vendor, url in VENDOR_API_DOCS.items()
        )
        + ". By default the five Augment streams and "
        "`sourcegraph_usage_by_user_day_client_language` are selected; the other Sourcegraph "
        "reports regroup the same activity and are opt-in."
    ),
}


def _label(text: str) -> str:
    """Title-case a setting or option name the way MeltanoHub does (``api`` → ``API``)."""
    words = text.replace("_", " ").replace("-", " ").replace(".", " ").split()
    fixes = {
        "Api": "API",
        "Url": "URL",
        "Urls": "URLs",
        "Id": "ID",
        "Gzip": "GZIP",
        "Jsonl": "JSONL",
    }
    return " ".join(fixes.get(word.title(), word.title()) for word in words)


def _json_type(schema: dict[str, t.Any]) -> str | None:
    """The non-null JSON type of a property (None when it has only ``oneOf``/``anyOf``)."""
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared]
    return next((kind for kind in types if kind and kind != "null"), None)


def setting_kind(name: str, schema: dict[str, t.Any]) -> str:
    """Map one JSON-schema property to a Meltano setting ``kind``.

    Args:
        name: The (dotted) setting name.
        schema: Its JSON schema.

    Returns:
        The kind.
    """
    json_type = _json_type(schema)
    if schema.get("secret"):
        return "password"
    if json_type is None:
        # Faker's locale is "string or list of strings"; a list is the general form.
        alternatives = schema.get("oneOf") or schema.get("anyOf") or []
        return "array" if any(_json_type(alt) == "array" for alt in alternatives) else "string"
    if json_type == "string":
        if schema.get("format") in {"date", "date-time"}:
            return "date_iso8601"
        return "options" if schema.get("enum") else "string"
    if name == "stream_maps":
        return "object"
    # JSON numbers become "integer", as on the Hub, not "decimal": Meltano 4.4 turns a decimal
    # setting given as text (an environment variable) into a Decimal that it then cannot write
    # to the tap's config file, and crashes; an "integer" still passes 7.5 from YAML through.
    return {"number": "integer"}.get(json_type, json_type)


def _leaves(properties: dict[str, t.Any], prefix: str = "") -> t.Iterator[tuple[str, dict]]:
    """Yield ``(dotted name, schema)`` for every leaf setting, as MeltanoHub lists them.

    Objects with declared properties are expanded (``batch_config.encoding.format``); objects
    without (``stream_map_config``) and ``stream_maps`` stay one ``object`` setting.
    """
    for key, schema in properties.items():
        name = f"{prefix}{key}"
        nested = schema.get("properties")
        if _json_type(schema) == "object" and nested and key != "stream_maps":
            yield from _leaves(nested, f"{name}.")
        else:
            yield name, schema


def settings_from_about(about: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """Build the Meltano ``settings`` list from ``--about --format=json`` output.

    Args:
        about: The parsed ``--about`` JSON.

    Returns:
        Settings sorted by name, each with sorted keys.
    """
    settings = []
    for name, schema in _leaves(about["settings"]["properties"]):
        kind = setting_kind(name, schema)
        setting: dict[str, t.Any] = {
            "name": name,
            "label": schema.get("title") or _label(name),
            "kind": kind,
        }
        if schema.get("description"):
            setting["description"] = schema["description"]
        if kind == "options":
            setting["options"] = [{"label": _label(str(v)), "value": v} for v in schema["enum"]]
        if kind == "password":
            setting["sensitive"] = True
        if schema.get("default") is not None:
            setting["value"] = schema["default"]
        settings.append(dict(sorted(setting.items())))
    return sorted(settings, key=lambda item: item["name"])


def build_definition(about: dict[str, t.Any]) -> dict[str, t.Any]:
    """Return the complete plugin definition (MeltanoHub format, keys sorted).

    Args:
        about: The parsed ``--about`` JSON.
    """
    definition = {
        **HUB_METADATA,
        "capabilities": sorted(about["capabilities"]),
        "settings": settings_from_about(about),
        "supported_python_versions": list(about.get("supported_python_versions") or []),
    }
    return dict(sorted(definition.items()))


def read_about(python: str = sys.executable) -> dict[str, t.Any]:
    """Run ``tap-ai-analytics --about --format=json`` with ``python`` and parse it.

    Args:
        python: An interpreter with the tap installed.
    """
    output = subprocess.run(
        [python, "-m", "tap_ai_analytics", "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    ).stdout
    return json.loads(output)


def render(definition: dict[str, t.Any]) -> str:
    """Serialise a definition as YAML that passes MeltanoHub's yamllint rules."""
    import yaml  # noqa: PLC0415 - only available inside the project environment

    return yaml.safe_dump(definition, sort_keys=True, allow_unicode=True, width=100)


def main() -> int:
    """Rewrite ``plugin.yaml`` and the Hub definition where they differ from ``--about``.

    Returns:
        The exit code.
    """
    text = render(build_definition(read_about()))
    stale = [
        path
        for path in (PLUGIN_YAML, HUB_DEFINITION)
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    if not stale:
        print("plugin definitions are up to date")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _bootstrap

    if Path(sys.prefix).resolve() != _bootstrap.VENV.resolve():
        # Re-run inside the project environment, which has the tap and PyYAML.
        python = _bootstrap.ensure_venv(["test"])
        sys.exit(subprocess.call([str(python), __file__]))
    sys.exit(main())
