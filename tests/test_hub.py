"""The Meltano plugin definitions agree with the tap and pass MeltanoHub's checks.

Checked: the Hub definition and ``plugin.yaml`` validate against the Hub's JSON schemas and its
yamllint rules; their settings (names, kinds, sensitivity, defaults, labels, descriptions) and
capabilities are exactly what ``tap-ai-analytics --about --format=json`` reports; ``meltano.yml``
declares every setting of the tap the same way. After changing a setting, regenerate the
definitions with ``python3 scripts/update_plugin_definitions.py`` and update ``meltano.yml``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator
from singer_sdk.helpers.capabilities import BATCH_CONFIG, FLATTENING_CONFIG, STREAM_MAPS_CONFIG
from yamllint import linter
from yamllint.config import YamlLintConfig

from tap_ai_analytics.settings import CONFIG_SCHEMA
from tap_ai_analytics.streams import AUGMENT_STREAMS, STREAM_NAMES

ROOT = Path(__file__).resolve().parents[1]
HUB_DATA = ROOT / "hub" / "_data"
DEFINITION = HUB_DATA / "meltano" / "extractors" / "tap-ai-analytics" / "tap-ai-analytics.yml"
PLUGIN_YAML = ROOT / "plugin.yaml"
MELTANO_YML = ROOT / "meltano.yml"
# The Hub's schemas and lint rules live in the shared folder beside the repository clone.
SHARED_HUB = Path(__file__).resolve().parents[2] / "shared" / "meltanohub"

needs_shared = pytest.mark.skipif(
    not (SHARED_HUB / "validate.py").is_file(),
    reason=(
        "needs MeltanoHub's JSON schemas and yamllint rules, which are not part of this "
        f"repository: put a copy of them (from the meltano/hub repository) in {SHARED_HUB}"
    ),
)


SDK_BUILTIN_SETTINGS = {
    name
    for config in (BATCH_CONFIG, FLATTENING_CONFIG, STREAM_MAPS_CONFIG)
    for name in config["properties"]
}


def tap_settings() -> list[str]:
    """The tap's own settings in declaration order.

    The SDK appends its built-in settings to the tap's schema dict in place once a tap class is
    used, so ``CONFIG_SCHEMA`` may hold them too by the time a test runs.
    """
    return [name for name in CONFIG_SCHEMA["properties"] if name not in SDK_BUILTIN_SETTINGS]


def load_yaml(path: Path) -> dict[str, t.Any]:
    return t.cast("dict[str, t.Any]", yaml.safe_load(path.read_text(encoding="utf-8")))


@functools.cache
def about() -> dict[str, t.Any]:
    result = subprocess.run(
        [sys.executable, "-m", "tap_ai_analytics", "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return t.cast("dict[str, t.Any]", json.loads(result.stdout))


def json_type(schema: dict[str, t.Any]) -> str | None:
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared]
    return next((kind for kind in types if kind and kind != "null"), None)


def about_settings() -> dict[str, dict[str, t.Any]]:
    """Leaf settings of --about by dotted name, the way MeltanoHub lists them."""

    def leaves(properties: dict[str, t.Any], prefix: str = "") -> dict[str, dict[str, t.Any]]:
        found: dict[str, dict[str, t.Any]] = {}
        for key, schema in properties.items():
            nested = schema.get("properties")
            if json_type(schema) == "object" and nested and key != "stream_maps":
                found.update(leaves(nested, f"{prefix}{key}."))
            else:
                found[f"{prefix}{key}"] = schema
        return found

    return leaves(about()["settings"]["properties"])


def expected_kind(name: str, schema: dict[str, t.Any]) -> str:
    kind = json_type(schema)
    if schema.get("secret"):
        return "password"
    if kind is None:  # oneOf: faker_config.seed (scalar) and faker_config.locale (str or list)
        alternatives = schema.get("oneOf", [])
        return "array" if any(json_type(alt) == "array" for alt in alternatives) else "string"
    if kind == "string":
        if schema.get("format") in {"date", "date-time"}:
            return "date_iso8601"
        return "options" if "enum" in schema else "string"
    if name == "stream_maps":
        return "object"
    # "number" is "integer" on purpose (see scripts/update_plugin_definitions.py).
    return {"number": "integer"}.get(kind, kind)


def squash(text: str | None) -> str | None:
    """Whitespace-normalised text (YAML folding may rewrap long descriptions)."""
    return " ".join(text.split()) if text else text


# -- the Hub definition and plugin.yaml ------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("path", [DEFINITION, PLUGIN_YAML], ids=lambda p: p.name)
def test_definition_matches_hub_schema(path):
    spec = importlib.util.spec_from_file_location("meltanohub_validate", SHARED_HUB / "validate.py")
    assert spec is not None
    assert spec.loader is not None
    validate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(validate)

    schema_path = validate.SCHEMAS / "plugin_definitions" / "extractors.schema.json"
    validator = Draft7Validator(json.loads(schema_path.read_text()), registry=validate.registry())
    errors = [
        f"{'/'.join(map(str, error.path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(load_yaml(path))
    ]
    assert errors == []


@needs_shared
def test_hub_files_pass_hub_yamllint():
    config = YamlLintConfig(file=str(SHARED_HUB / "yamllint.yaml"))
    paths = [PLUGIN_YAML, *sorted(HUB_DATA.rglob("*.yml"))]
    assert len(paths) >= 4
    problems = [
        f"{path.relative_to(ROOT)}:{problem.line}:{problem.column}: {problem.message}"
        for path in paths
        for problem in linter.run(path.read_text(encoding="utf-8"), config, str(path))
    ]
    assert problems == []


def test_plugin_yaml_is_the_hub_definition():
    assert load_yaml(PLUGIN_YAML) == load_yaml(DEFINITION)


def load_generator() -> t.Any:
    spec = importlib.util.spec_from_file_location(
        "update_plugin_definitions", ROOT / "scripts" / "update_plugin_definitions.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_definitions_are_regenerated_from_one_source():
    generator = load_generator()
    expected = generator.render(generator.build_definition(about()))
    for path in (PLUGIN_YAML, DEFINITION):
        assert path.read_text(encoding="utf-8") == expected, (
            f"{path.relative_to(ROOT)} is stale: run python3 scripts/update_plugin_definitions.py"
        )


def test_listing_has_logo_links_and_an_installable_pip_url():
    definition = load_yaml(DEFINITION)
    # The Hub serves logos from its static folder; hub/static mirrors that layout.
    logo = ROOT / "hub" / "static" / definition["logo_url"].lstrip("/")
    assert logo.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert len(definition["description"]) <= 80  # one line on the Hub's plugin card
    assert definition["domain_url"].startswith("https://docs.augmentcode.com/")
    for vendor_docs in ("https://docs.augmentcode.com/", "https://sourcegraph.com/docs/analytics"):
        assert vendor_docs in definition["usage"]
    # Not on PyPI yet: Meltano installs from the repository.
    assert definition["pip_url"] == f"git+{definition['repo']}.git"


def test_hub_layout_names_and_entries():
    definition = load_yaml(DEFINITION)
    assert definition["name"] == DEFINITION.parent.name  # the Hub checks name == directory
    assert definition["variant"] == DEFINITION.stem
    assert definition["namespace"] == "tap_ai_analytics"
    assert definition["executable"] == "tap-ai-analytics"
    assert definition["keywords"] == ["api", "meltano_sdk"]
    assert definition["quality"] in {"gold", "silver", "bronze", "unknown"}
    assert definition["maintenance_status"] == "active"
    assert load_yaml(HUB_DATA / "default_variants.yml") == {
        "extractors": {definition["name"]: definition["variant"]}
    }
    maintainer = load_yaml(HUB_DATA / "maintainers.yml")[definition["variant"]]
    assert set(maintainer) == {"label", "name", "url"}


def test_definition_capabilities_and_python_versions_match_about():
    definition = load_yaml(DEFINITION)
    assert definition["capabilities"] == sorted(about()["capabilities"])
    assert definition["supported_python_versions"] == about()["supported_python_versions"]
    assert definition["supported_python_versions"]  # read from the installed package metadata


def test_definition_settings_match_about():
    settings = load_yaml(DEFINITION)["settings"]
    assert [s["name"] for s in settings] == sorted(s["name"] for s in settings)
    by_name = {setting["name"]: setting for setting in settings}
    reported = about_settings()
    assert sorted(by_name) == sorted(reported)
    for name, schema in reported.items():
        kind = expected_kind(name, schema)
        expected = {
            "name": name,
            "kind": kind,
            "label": schema.get("title") or by_name[name]["label"],
            "description": schema.get("description"),
        }
        if kind == "password":
            expected["sensitive"] = True
        if schema.get("default") is not None:
            expected["value"] = schema["default"]
        actual = {key: value for key, value in by_name[name].items() if key != "options"}
        assert actual == {key: value for key, value in expected.items() if value is not None}
        if kind == "options":
            assert [option["value"] for option in by_name[name]["options"]] == schema["enum"]


def test_definition_secrets_are_exactly_the_tap_secrets():
    secrets = {name for name, schema in CONFIG_SCHEMA["properties"].items() if schema.get("secret")}
    assert secrets == {"augment_api_token", "sourcegraph_access_token"}
    sensitive = {s["name"] for s in load_yaml(DEFINITION)["settings"] if s.get("sensitive")}
    assert sensitive == secrets


# -- meltano.yml -----------------------------------------------------------------------------


def meltano_extractor() -> dict[str, t.Any]:
    (extractor,) = load_yaml(MELTANO_YML)["plugins"]["extractors"]
    return t.cast("dict[str, t.Any]", extractor)


def test_meltano_yml_declares_every_tap_setting_like_the_definition():
    extractor = meltano_extractor()
    declared = {setting["name"]: setting for setting in extractor["settings"]}
    assert list(declared) == tap_settings()  # the same settings, in the same order
    definition = {s["name"]: s for s in load_yaml(DEFINITION)["settings"]}
    for name, setting in declared.items():
        assert {key: squash(v) if key == "description" else v for key, v in setting.items()} == {
            key: squash(v) if key == "description" else v for key, v in definition[name].items()
        }, name


def test_meltano_yml_extractor_matches_the_definition():
    extractor = meltano_extractor()
    definition = load_yaml(DEFINITION)
    assert extractor["name"] == definition["name"]
    assert extractor["namespace"] == definition["namespace"]
    assert extractor["executable"] == definition["executable"]
    assert extractor["pip_url"] == "-e ."
    assert extractor["capabilities"] == definition["capabilities"]
    assert extractor["settings_group_validation"] == definition["settings_group_validation"]
    assert extractor["select"] == definition["select"]


def test_default_selection_names_real_streams():
    selected = [rule.removesuffix(".*") for rule in load_yaml(DEFINITION)["select"]]
    assert set(selected) <= STREAM_NAMES
    by_default = {str(s.name) for s in AUGMENT_STREAMS if s.selected_by_default}  # type: ignore[misc,unused-ignore]
    opt_in = {str(s.name) for s in AUGMENT_STREAMS if not s.selected_by_default}  # type: ignore[misc,unused-ignore]
    assert by_default <= set(selected)
    assert not opt_in & set(selected)


def test_meltano_yml_project_basics():
    project = load_yaml(MELTANO_YML)
    assert project["requires_meltano"] == ">=4.0"
    assert project["default_environment"] == "dev"
    assert {env["name"] for env in project["environments"]} == {"dev", "demo"}
    loaders = {loader["name"]: loader for loader in project["plugins"]["loaders"]}
    assert loaders["target-jsonl"]["variant"] == "andyh1203"
    # DuckDB: this repository's loader (the ones on PyPI lose rows of this tap's data).
    assert loaders["target-duckdb"]["pip_url"] == "-e ./loaders/target-duckdb"
    duckdb_definition = load_yaml(ROOT / "loaders" / "target-duckdb" / "plugin.yaml")
    for key in ("name", "namespace", "executable", "variant"):
        assert loaders["target-duckdb"][key] == duckdb_definition[key], key
    assert loaders["target-postgres"]["pip_url"].startswith("meltanolabs-target-postgres")
    # No secret may be written into the project file: only references to the environment.
    for env in project["environments"]:
        for plugin in env.get("config", {}).get("plugins", {}).get("extractors", []):
            for key in ("augment_api_token", "sourcegraph_access_token"):
                value = plugin.get("config", {}).get(key)
                assert value is None or value.startswith("$"), (env["name"], key)
