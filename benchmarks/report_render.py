"""Nightly report rendering on 10,000 runs, as a ratio against serializing the same audit as JSON.

    python benchmarks/report_render.py [--runs 10000] [--rebuild]

Reuses the store that benchmarks/audit_speed.py builds and caches in .benchmarks/ (built here
if missing). Audits it once (not timed: benchmarks/audit_speed.py measures that), then times,
fastest of 3:
  (a) the audit's JSON output (``--json``) for the same report: the baseline
  (b) everything ``mlrepro report`` does after the audit: the night's JSON data, saving it in
      the history folder, reading the history back (30 previous nights, the latest with a
      tenth of the findings different, so "new" and "resolved" are not empty), and rendering
      the HTML page                                      target <= 10 s, page <= 5 MB
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audit_speed import cached_store, work_copy  # the one 10k-run store builder (after the path insert)

MAX_SECONDS, MAX_BYTES = 10.0, 5 * 1024 * 1024


def fastest(action, repeats: int = 3) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    work = work_copy(cached_store(args.runs, args.rebuild), "report-work").parent

    from mlrepro.api import audit_report
    from mlrepro.config import resolve_settings
    from mlrepro.formatters import render
    from mlrepro.formatters.html_format import render_page
    from mlrepro.nightly.history import load_history, save_night
    from mlrepro.nightly.model import AuditDetails
    from mlrepro.nightly.snapshot import build_night, page_context

    details = AuditDetails()
    started = time.perf_counter()
    report = audit_report(work, f"sqlite:///{work / 'mlflow.db'}", artifacts=False, isolated=True, details=details)
    print(f"audited {len(details.runs)} runs, {len(report.findings)} findings in {time.perf_counter() - started:.1f} s (not part of the ratio)")
    settings = resolve_settings(work, isolated=True)
    today = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)

    # 30 previous nights in the history; the latest differs in a tenth of its findings.
    history = work / "history"
    night = build_night(report, details, today, settings)
    for days in range(30, 0, -1):
        old = dict(night, date=(today - timedelta(days=days)).date().isoformat())
        if days == 1:
            old["findings"] = [dict(f, message=f["message"] + " (yesterday)") if i % 10 == 0 else f for i, f in enumerate(night["findings"])]
        save_night(history, old)

    baseline, json_text = fastest(lambda: render("json", report))

    def nightly() -> str:
        current = build_night(report, details, today, settings)
        save_night(history, current)
        return render_page(page_context(current, load_history(history, before=current["date"])))

    seconds, html = fastest(nightly)
    size = len(str(html).encode("utf-8"))
    (work / "report.html").write_text(str(html), encoding="utf-8")
    night_bytes = (history / f"{today.date().isoformat()}.json").stat().st_size
    print(f"(a) audit JSON output (baseline)  {baseline:6.2f} s  {len(str(json_text).encode()) / 2**20:6.1f} MiB")
    print(f"(b) nightly report after audit    {seconds:6.2f} s  ratio {seconds / baseline:.2f} x (a)  (target <= {MAX_SECONDS:g} s)")
    print(f"    HTML page                     {size / 2**20:6.2f} MiB  (target <= {MAX_BYTES / 2**20:g} MiB), {work / 'report.html'}")
    print(f"    one night in the history      {night_bytes / 2**20:6.2f} MiB")
    ok = seconds <= MAX_SECONDS and size <= MAX_BYTES
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
