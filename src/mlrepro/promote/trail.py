"""The promotion trail: the model-version tags `mlrepro promote` writes when every gate
passed, and that the registry audit (MLR804) looks for on versions in use. Plain names, no
I/O, so that audit checks may import them."""

from __future__ import annotations

from mlrepro import tags

PROMOTED_BY = tags.PROMOTED_BY
PROMOTED_AT = tags.PROMOTED_AT
GATE = tags.PROMOTION_GATE
AUDIT_DIGEST = tags.AUDIT_DIGEST
REPRODUCED = tags.PROMOTION_REPRODUCED
# Where the gate sent the version ("@champion", "stage:Production"), comma-separated when it
# was promoted more than once: an alias moved by hand onto a gated version is still ungated.
PROMOTED_TO = tags.PROMOTED_TO

# Without these a version was not promoted through the gate.
REQUIRED = (PROMOTED_BY, PROMOTED_AT, GATE, AUDIT_DIGEST)

DEFAULT_GUARDED_ALIASES = ("champion", "production")
STAGES = ("Production", "Staging")


def stage_use(stage: str) -> str:
    return f"stage:{stage}"


def alias_use(alias: str) -> str:
    return f"@{alias}"


def uses(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}
