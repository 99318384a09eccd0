"""The history reader on any folder (#17 fuzzing): damaged, foreign, truncated or nested night
files are left out of the trend, never an exception; and every night ``save_night`` wrote is
read back as it was, whatever its header and summary hold."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlrepro.nightly.history import load_history, read_summary, save_night

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DATES = ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10)
    | st.sampled_from(['"summary":', "summary", "}", "\\", "\udcff"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8) | st.just("summary"), inner, max_size=3),
    max_leaves=12,
)
nights = st.builds(
    lambda extra, summary, findings: {"schema": 1, "date": "", **extra, "summary": summary, "findings": findings},
    st.dictionaries(st.text(max_size=8).filter(lambda k: k not in {"schema", "date", "summary", "findings"}), json_values, max_size=3),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    st.lists(json_values, max_size=3),
)
garbage = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
    nights.map(lambda n: json.dumps(n).encode("utf-8", "surrogatepass")).flatmap(
        lambda data: st.integers(0, len(data)).map(lambda cut: data[:cut])  # truncated mid-write
    ),
    st.sampled_from([b"", b"{", b'{"summary":', b'{"date": 1, "summary": {}}', b'{"date": "x", "summary": [], "findings": []}',
                     b'{"a": "\\"summary\\":", "summary": {}}', "{\"date\": \"\u00e9\", \"summary\": {}}".encode("latin-1")]),
)


def readable(night: object) -> bool:
    return isinstance(night, dict) and isinstance(night.get("date"), str) and isinstance(night.get("summary"), dict)


@FUZZ
@given(st.lists(garbage, min_size=1, max_size=4), st.integers(1, 5))
def test_any_history_folder_gives_the_readable_nights(files: list[bytes], limit: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for date, data in zip(DATES, files):
            (folder / f"{date}.json").write_bytes(data)
        (folder / "notes.txt").write_bytes(files[0])  # not a night file: never read
        loaded = load_history(folder, before="2026-12-01", limit=limit)
        assert len(loaded) <= min(limit, len(files))
        assert all(readable(night) for night in loaded)
        for date in DATES[: len(files)]:
            summary = read_summary(folder / f"{date}.json")
            assert summary is None or readable(summary)


@FUZZ
@given(st.lists(nights, min_size=1, max_size=4))
@example([{"schema": 1, "date": "", "note": '"summary": {"x": 1}', "summary": {"score": 0.5}, "findings": []}])
@example([{"schema": 1, "date": "", "a": {"summary": 1}, "summary": {"summary": {}}, "findings": [{"summary": 2}]}])
def test_every_saved_night_is_read_back(saved: list[dict[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for date, night in zip(DATES, saved):
            night["date"] = date
            save_night(folder, night)
        loaded = load_history(folder, before="2026-12-01")
        # The latest in full; the older ones at least their header and summary (in full when a
        # header field hides the summary from the quick read).
        assert json.dumps(loaded[-1], sort_keys=True) == json.dumps(saved[-1], sort_keys=True)
        shown = [{k: v for k, v in n.items() if k != "findings"} for n in loaded[:-1]]
        expected = [{k: v for k, v in n.items() if k != "findings"} for n in saved[:-1]]
        assert json.dumps(shown, sort_keys=True) == json.dumps(expected, sort_keys=True)


DEEP = "[" * 100_000 + "]" * 100_000  # deeper than Python's JSON reader can take


@pytest.mark.parametrize(
    "text", [DEEP, '{"schema": 1, "date": "2026-11-21", "summary": ' + DEEP + "}", '{"date": "2026-11-21", "summary": {}, "findings": ' + DEEP + "}"],
    ids=["top-level", "in-the-summary", "in-the-findings"],
)
def test_a_night_nested_deeper_than_the_stack_is_left_out(tmp_path: Path, text: str) -> None:
    save_night(tmp_path, {"schema": 1, "date": "2026-11-20", "summary": {"score": 1.0}, "findings": []})
    (tmp_path / "2026-11-21.json").write_text(text)
    (tmp_path / "2026-11-22.json").write_text(text)
    assert [night["date"] for night in load_history(tmp_path, before="2026-12-01")] == ["2026-11-20"]
