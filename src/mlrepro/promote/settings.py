"""``[tool.mlrepro.promote]``: which aliases the gate guards, and the team's default
``--must-beat`` thresholds. All keys optional."""

from __future__ import annotations

from dataclasses import dataclass

from mlrepro.config import ConfigError, Settings
from mlrepro.promote import trail
from mlrepro.promote.threshold import MetricThreshold, ThresholdError

PROMOTE_KEYS = {"guarded-aliases", "must-beat"}


@dataclass(frozen=True)
class PromotePolicy:
    # Aliases serving code loads: a version holding one without the trail went around the gate (MLR804).
    guarded_aliases: tuple[str, ...] = trail.DEFAULT_GUARDED_ALIASES
    must_beat: tuple[MetricThreshold, ...] = ()


def _strings(value: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"[tool.mlrepro.promote] {key} must be a list of strings")
    return tuple(value)


def load_promote_policy(settings: Settings) -> PromotePolicy:
    table = settings.section("promote")
    unknown = sorted(set(table) - PROMOTE_KEYS)
    if unknown:
        from mlrepro.config_schema import show_key

        where = f"{settings.config_path}: " if settings.config_path is not None else ""
        raise ConfigError(f"{where}unknown key(s) in [tool.mlrepro.promote]: {', '.join(map(show_key, unknown))}")
    aliases = _strings(table["guarded-aliases"], "guarded-aliases") if "guarded-aliases" in table else trail.DEFAULT_GUARDED_ALIASES
    specs = _strings(table["must-beat"], "must-beat") if "must-beat" in table else ()
    try:
        thresholds = tuple(MetricThreshold.parse(spec) for spec in specs)
    except ThresholdError as exc:
        raise ConfigError(f"[tool.mlrepro.promote] must-beat: {exc}") from None
    return PromotePolicy(guarded_aliases=tuple(a.lstrip("@") for a in aliases), must_beat=thresholds)
