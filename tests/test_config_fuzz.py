"""The configuration reader on any input: a usable Settings or a ConfigError, nothing else
(#17 fuzzing). Every command's reader of its section runs on what was accepted."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlrepro.config import ConfigError, repo_paths, resolve_settings
from mlrepro.config_schema import SCHEMA


def toml_value(value: object) -> str:
    """A TOML rendering; where it is not valid TOML, the reader must say so (ConfigError)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (int, str)):
        return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items()) + "}"


KEYS = sorted({key for section in SCHEMA.values() for key in section} | {s for s in SCHEMA if s} | {"per-file-ignores"})
scalars = (
    st.none().map(lambda _: "") | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats() | st.text(max_size=12) | st.sampled_from(["MLR1", "E501", "ALL", "note", "1e-3:1e-9", "nan", "x/**", ""])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
tables = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), values, max_size=6)
documents = st.one_of(
    tables.map(lambda t: "[tool.mlrepro]\n" + "".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}\n" for k, v in t.items())),
    st.text(max_size=200).map(lambda text: "[tool.mlrepro]\n" + text),
)


def read_everything(directory: Path) -> None:
    from mlrepro.audit.policy import load_policy
    from mlrepro.capture.collect import load_settings
    from mlrepro.lint.engine import Linter
    from mlrepro.promote.settings import load_promote_policy
    from mlrepro.reproduce.compare import configured_tolerances

    resolved = resolve_settings(directory)
    Linter(resolved)
    load_policy(resolved)
    load_promote_policy(resolved)
    load_settings(directory)
    configured_tolerances(resolved.section("reproduce").get("tolerances", {}))
    repo_paths(resolved)
    assert resolved.max_file_bytes > 0


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
@example("[tool.mlrepro]\nmax-file-size-kb = 1e308\n")
@example('[tool.mlrepro]\naudit = { rules-dir = "a\\u0000b" }\n')
@example('[tool.mlrepro]\nreproduce = { tolerances = { loss = "1e400" } }\n')
@example('[tool.mlrepro]\n"\\n0" = 1\n')
@example('[tool.mlrepro]\naudit = { "\\n0" = 1 }\n')
@example('[tool.mlrepro]\npromote = { "\\n0" = 1 }\n')
@example("[tool.mlrepro]\ncapture = { max-diff-tags = 99999999999999999999 }\n")
@example('[tool.mlrepro.repos]\n"https://[h/o/r" = "a\\u0000b"\n')
def test_any_pyproject_gives_settings_or_a_config_error(document: str) -> None:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        (directory / "pyproject.toml").write_text(document, encoding="utf-8", errors="surrogatepass")
        try:
            read_everything(directory)
        except ConfigError as exc:
            assert "\n" not in str(exc), "the error must stay one line"
