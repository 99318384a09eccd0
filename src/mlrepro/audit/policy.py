"""``[tool.mlrepro.audit]``: what a team requires of every run. All keys optional."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrepro.config import ConfigError, Settings
from mlrepro.seeds import DEFAULT_SEED_PARAMS

DEFAULT_REQUIRED_TAGS = ("model_type", "dataset_version", "feature_set", "team", "purpose")
DEFAULT_DATA_VERSION_TAGS = ("dataset_version", "data_version", "mlrepro.data_version")
# Names people give runs when they do not name them.
DEFAULT_GENERIC_NAMES = (
    "run", "test", "tmp", "temp", "debug", "untitled", "new run", "experiment", "default", "foo",
    "bar", "asdf", "trial", "try", "final", "final2", "new",
)

AUDIT_KEYS = {
    "required-tags", "required-params", "seed-params", "data-version-tags", "max-artifact-mb",
    "max-run-artifacts-mb", "stale-running-hours", "experiments", "exclude-experiments",
    "rules-dir", "generic-run-names", "fail-on",
}


@dataclass(frozen=True)
class AuditPolicy:
    required_tags: tuple[str, ...] = DEFAULT_REQUIRED_TAGS
    required_params: tuple[str, ...] = ()
    seed_params: tuple[str, ...] = DEFAULT_SEED_PARAMS
    data_version_tags: tuple[str, ...] = DEFAULT_DATA_VERSION_TAGS
    max_artifact_mb: float = 100.0
    max_run_artifacts_mb: float = 1024.0
    stale_running_hours: float = 24.0
    experiments: tuple[str, ...] = ()
    exclude_experiments: tuple[str, ...] = ()
    rules_dir: Path | None = None
    generic_run_names: tuple[str, ...] = DEFAULT_GENERIC_NAMES
    fail_on: str = "note"
    # From [tool.mlrepro.promote]: aliases that only `mlrepro promote` may set (MLR804).
    guarded_aliases: tuple[str, ...] = ("champion", "production")


def _strings(table: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"[tool.mlrepro.audit] {key} must be a list of strings")
    return tuple(value)


def _number(table: Mapping[str, Any], key: str, default: float) -> float:
    from mlrepro.config_schema import finite_number

    value = table.get(key, default)
    if not finite_number(value):  # NaN compares false with every size: the check would be off
        raise ConfigError(f"[tool.mlrepro.audit] {key} must be a finite number >= 0")
    return float(value)


def load_policy(settings: Settings) -> AuditPolicy:
    table = settings.section("audit")
    unknown = sorted(set(table) - AUDIT_KEYS)
    if unknown:
        from mlrepro.config_schema import show_key

        where = f"{settings.config_path}: " if settings.config_path is not None else ""
        raise ConfigError(f"{where}unknown key(s) in [tool.mlrepro.audit]: {', '.join(map(show_key, unknown))}")
    rules_dir = table.get("rules-dir")
    if rules_dir is not None and not isinstance(rules_dir, str):
        raise ConfigError("[tool.mlrepro.audit] rules-dir must be a path")
    fail_on = table.get("fail-on", "note")
    if fail_on not in ("note", "warning", "error"):
        raise ConfigError("[tool.mlrepro.audit] fail-on must be note, warning or error")
    return AuditPolicy(
        required_tags=_strings(table, "required-tags", DEFAULT_REQUIRED_TAGS),
        required_params=_strings(table, "required-params", ()),
        seed_params=_strings(table, "seed-params", DEFAULT_SEED_PARAMS),
        data_version_tags=_strings(table, "data-version-tags", DEFAULT_DATA_VERSION_TAGS),
        max_artifact_mb=_number(table, "max-artifact-mb", 100.0),
        max_run_artifacts_mb=_number(table, "max-run-artifacts-mb", 1024.0),
        stale_running_hours=_number(table, "stale-running-hours", 24.0),
        experiments=_strings(table, "experiments", ()),
        exclude_experiments=_strings(table, "exclude-experiments", ()),
        rules_dir=(settings.root / rules_dir) if rules_dir else None,
        generic_run_names=_strings(table, "generic-run-names", DEFAULT_GENERIC_NAMES),
        fail_on=fail_on,
        guarded_aliases=_guarded_aliases(settings),
    )


def _guarded_aliases(settings: Settings) -> tuple[str, ...]:
    from mlrepro.promote.settings import load_promote_policy

    return load_promote_policy(settings).guarded_aliases
