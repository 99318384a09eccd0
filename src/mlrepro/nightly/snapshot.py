"""One night's result as plain JSON data (saved in the history folder), and the page's view of
it next to the previous nights (trends, new and resolved findings).

Sizes are bounded whatever the store holds: per-run details only for runs with findings, the
worst first, at most ``RUN_DETAILS`` of them (the page says how many more there are); new and
resolved lists at most ``CHANGES`` each; trends over at most ``TREND_NIGHTS`` nights.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from mlrepro import tags
from mlrepro.config import Settings
from mlrepro.findings import Finding, RunRef, Severity
from mlrepro.formatters import Report
from mlrepro.nightly import reproductions as repro
from mlrepro.nightly.model import SCHEMA, AuditDetails, Night
from mlrepro.reproduce.compare import configured_tolerances

RUN_DETAILS = 200
EXPERIMENTS = 200
CHANGES = 100
REPRODUCTIONS = 50  # charts: this report's first, then the latest recorded
TREND_NIGHTS = 60
MAX_VALUE_CHARS = 300  # a tag holding a whole file would bloat the page: show its start
SEVERITIES = ("error", "warning", "info")
_RANK = {s.value: s.rank for s in Severity}


def _clip(value: str) -> str:
    return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + f"… ({len(value)} characters)"


def safe_url(url: str | None) -> str | None:
    """A link target the page may carry: web pages, and team rule files (file:). Escaping
    makes a URL harmless as text, not as an href: a ``javascript:`` one stays out."""
    return url if url and url.split(":", 1)[0].lower() in ("http", "https", "file") else None


def _finding(f: Finding) -> dict[str, Any]:
    run = f.run or RunRef()
    return {
        "code": f.code, "name": f.name, "severity": f.severity.value, "message": f.message, "fix": f.fix, "url": safe_url(f.url),
        "run_id": run.run_id, "experiment_id": run.experiment_id, "model": run.model,
        "run_name": run.run_name, "experiment_name": run.experiment_name,
    }


# What the history keeps of every finding: enough to tell new from resolved and to list them.
# Fix hints, names and links are rule-level text, kept only for the runs the page details
# (at 10,000 runs they would double a night's file).
COMPACT = ("code", "severity", "message", "run_id", "run_name", "model")


def finding_key(f: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """What identifies a finding from one night to the next: code, run or model, message."""
    return (str(f["code"]), str(f.get("run_id") or ""), str(f.get("model") or ""), str(f["message"]))


def _worst(severities: Iterable[str]) -> str | None:
    return max(severities, key=_RANK.__getitem__, default=None)


def build_night(report: Report, details: AuditDetails, moment: datetime, settings: Settings) -> Night:
    """The night's JSON: summary, compact findings, aggregates and bounded details."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    findings = [_finding(f) for f in report.findings]
    by_run: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        if f["run_id"] and not f["model"]:  # registry findings name the source run too, but are about the version
            by_run.setdefault(f["run_id"], []).append(f)
    # mlrepro's own re-executions are not audited (the engine skips them): they are shown as
    # reproductions, not counted as runs.
    runs = [r for r in details.runs if tags.REPRODUCES not in r.tags]
    with_errors = {r.run_id for r in runs if any(f["severity"] == "error" for f in by_run.get(r.run_id, ()))}
    severity_counts = Counter(f["severity"] for f in findings)

    ran = repro.from_outcomes(details.reproductions, {r.run_id: r for r in runs})
    recorded = repro.from_store(details.runs, skip=details.reproductions, per_metric=configured_tolerances(settings.section("reproduce").get("tolerances", {})))
    recorded.sort(key=lambda r: r["date"] or "", reverse=True)
    reproductions = ran + recorded
    outcome_counts = Counter(r["outcome"] for r in reproductions)
    verdict_by_run = {r["run_id"]: r["verdict"] for r in reproductions}

    night: Night = {
        "schema": SCHEMA,
        "date": moment.astimezone(timezone.utc).date().isoformat(),
        "generated_at": moment.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "tool_version": report.tool_version,
        "tracking_uri": details.tracking_uri,
        "repo_commit": details.repo_commit,
        "summary": {
            "runs": len(runs),
            "runs_with_errors": len(with_errors),
            "runs_with_findings": sum(1 for r in runs if r.run_id in by_run),
            "experiments": len({r.experiment_id for r in runs}),
            # Share of runs with no error-level finding; None when there is nothing to score.
            "score": round(1 - len(with_errors) / len(runs), 4) if runs else None,
            "findings": {s: severity_counts.get(s, 0) for s in SEVERITIES},
            "models_in_use": sum(1 for v in details.versions if v.in_use),
            "reproductions": {k: outcome_counts.get(k, 0) for k in ("reproduced", "diverged", "failed")},
            "not_checked": details.not_checked,
        },
        "notes": list(report.notes),
        "findings": [{k: f[k] for k in COMPACT} for f in findings],
        "registry_findings": [f for f in findings if f["model"]][:CHANGES],
        "rules": _rules(report, findings),
        "experiments": _experiments(runs, by_run)[:EXPERIMENTS],
        "runs": _run_details(runs, by_run),
        "models": _models(details, findings, by_run, verdict_by_run),
        "reproductions": reproductions[:REPRODUCTIONS],
    }
    night["summary"]["run_details_omitted"] = night["summary"]["runs_with_findings"] - len(night["runs"])
    night["summary"]["reproductions_omitted"] = len(reproductions) - len(night["reproductions"])
    return night


def _rules(report: Report, findings: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    counts = Counter(f["code"] for f in findings)
    runs: dict[str, set[str]] = {}
    for f in findings:
        runs.setdefault(f["code"], set()).add(f["model"] or f["run_id"] or "")
    rows = [
        {"code": r.code, "name": r.name, "severity": r.severity.value, "summary": r.summary, "url": safe_url(r.url),
         "findings": counts.get(r.code, 0), "subjects": len(runs.get(r.code, ()))}
        for r in report.rules
    ]
    known = {r.code for r in report.rules}
    for code in sorted(set(counts) - known):  # team rules or rules outside the selection
        f = next(f for f in findings if f["code"] == code)
        rows.append({"code": code, "name": f["name"], "severity": f["severity"], "summary": "", "url": f["url"],
                     "findings": counts[code], "subjects": len(runs[code])})
    return sorted(rows, key=lambda r: (-r["findings"], -_RANK.get(r["severity"], 0), r["code"]))


def _experiments(runs: Sequence[Any], by_run: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for run in runs:
        row = table.setdefault(run.experiment_id, {"id": run.experiment_id, "name": run.experiment_name or run.experiment_id,
                                                   "runs": 0, "with_errors": 0, "codes": Counter(), "severity": {}})
        row["runs"] += 1
        found = by_run.get(run.run_id, ())
        if any(f["severity"] == "error" for f in found):
            row["with_errors"] += 1
        for f in found:
            row["codes"][f["code"]] += 1
            row["severity"][f["code"]] = f["severity"]
    rows = []
    for row in table.values():
        codes: Counter[str] = row.pop("codes")
        severity = row.pop("severity")
        # "Worst" rules: the most severe first, then the most frequent.
        worst = sorted(codes, key=lambda c: (-_RANK[severity[c]], -codes[c], c))[:3]
        row["score"] = round(1 - row["with_errors"] / row["runs"], 4)
        row["worst"] = [{"code": c, "count": codes[c], "severity": severity[c]} for c in worst]
        rows.append(row)
    return sorted(rows, key=lambda r: (r["score"], r["name"]))


def _run_details(runs: Sequence[Any], by_run: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    flagged = [r for r in runs if r.run_id in by_run]

    def badness(run: Any) -> tuple[int, int, str]:
        found = by_run[run.run_id]
        return (-max(_RANK[f["severity"]] for f in found), -len(found), run.start_time.isoformat() if run.start_time else "")

    flagged.sort(key=badness)
    rows = []
    for run in flagged[:RUN_DETAILS]:
        found = by_run[run.run_id]
        rows.append({
            "run_id": run.run_id,
            "name": run.run_name,
            "experiment": run.experiment_name or run.experiment_id,
            "status": run.status,
            "start_time": run.start_time.isoformat(timespec="seconds") if run.start_time else None,
            "worst": _worst(f["severity"] for f in found),
            "counts": {s: sum(1 for f in found if f["severity"] == s) for s in SEVERITIES},
            # mlflow.* tags are MLflow's bookkeeping (and the runName repeats the name): users' tags first.
            "tags": sorted(((k, _clip(v)) for k, v in run.tags.items() if not k.startswith("mlflow.")), key=lambda kv: kv[0]),
            "system_tags": sorted(((k, _clip(v)) for k, v in run.tags.items() if k.startswith("mlflow.") and k != "mlflow.runName"), key=lambda kv: kv[0]),
            "params": sorted(((k, _clip(v)) for k, v in run.params.items()), key=lambda kv: kv[0]),
            "metrics": sorted(run.metrics.items()),
            "findings": found,
        })
    return rows


def _models(details: AuditDetails, findings: Sequence[Mapping[str, Any]], by_run: Mapping[str, list[dict[str, Any]]], verdicts: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each served version (live stage or alias): its source run's worst finding and its
    reproduction verdict, and the registry findings about the version itself."""
    by_model: dict[str, list[str]] = {}
    for f in findings:
        if f["model"]:
            by_model.setdefault(f["model"], []).append(f["code"])
    rows = []
    for v in details.versions:
        if not v.in_use:
            continue
        found = by_run.get(v.run_id or "", [])
        rows.append({
            "name": v.name, "version": v.version, "stage": v.stage, "aliases": list(v.aliases), "run_id": v.run_id,
            "run_verdict": _worst(f["severity"] for f in found) or ("clean" if v.run_id else "no run"),
            "run_codes": sorted({f["code"] for f in found}),
            "model_codes": sorted(set(by_model.get(f"{v.name}/{v.version}", []))),
            "reproduction": verdicts.get(v.run_id or ""),
        })
    return sorted(rows, key=lambda r: (r["name"], -int(r["version"]) if str(r["version"]).isdigit() else 0))


def _trend_point(night: Night) -> dict[str, Any]:
    """A night's numbers for the charts, tolerant of history written by other versions."""
    summary = night["summary"]
    counts = summary.get("findings") if isinstance(summary.get("findings"), Mapping) else {}
    score = summary.get("score")
    return {
        "date": str(night["date"]),
        "findings": {s: int(counts.get(s, 0)) if isinstance(counts.get(s, 0), int) else 0 for s in SEVERITIES},
        "score": float(score) if isinstance(score, (int, float)) and 0 <= score <= 1 else None,
        "runs": summary.get("runs") if isinstance(summary.get("runs"), int) else 0,
    }


def _scalar(value: Any) -> Any:
    # Another version's night may hold anything where a string belongs (a nested list would
    # even exhaust the stack when shown): only plain values reach the page.
    return value if value is None or isinstance(value, (str, int, float)) else None


def served_alarm(models: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The served versions (live stage or alias) that must not serve: their source run fails
    the audit (an error-level finding) or its reproduction did not reproduce (diverged,
    failed, nothing compared). The page shows them first, above everything else."""
    alarm = []
    for m in models:
        failed_audit = m.get("run_verdict") == "error"
        reproduction = m.get("reproduction")
        not_reproduced = bool(reproduction) and repro.outcome_class(str(reproduction)) != "reproduced"
        if failed_audit or not_reproduced:
            alarm.append({**m, "failed_audit": failed_audit, "not_reproduced": not_reproduced})
    return alarm


def page_context(night: Night, previous: Sequence[Night], skipped_history: Sequence[str] = ()) -> dict[str, Any]:
    """What the template renders: this night, trends over the previous ones, what changed
    since the latest previous night, and the history files left out (``skipped_history``)."""
    nights = [*previous, night][-TREND_NIGHTS:]
    before = previous[-1] if previous else None
    new: list[dict[str, Any]] = []
    resolved: list[dict[str, Any]] = []
    if before is not None:
        # The previous night may come from another version: keep the well-formed entries, with every field the page reads.
        earlier = [
            {k: _scalar(f.get(k)) for k in COMPACT}
            for f in before.get("findings", []) if isinstance(f, dict) and isinstance(f.get("code"), str) and isinstance(f.get("message"), str)
        ]
        old_keys = {finding_key(f) for f in earlier}
        now_keys = {finding_key(f) for f in night["findings"]}
        new = [f for f in night["findings"] if finding_key(f) not in old_keys]
        resolved = [f for f in earlier if finding_key(f) not in now_keys]
    registry_total = sum(1 for f in night["findings"] if f["model"])
    return {
        "night": night,
        "summary": night["summary"],
        "previous": before,
        "trend": [_trend_point(n) for n in nights],
        "new": new[:CHANGES], "new_total": len(new),
        "resolved": resolved[:CHANGES], "resolved_total": len(resolved),
        "model_findings": night["registry_findings"], "model_findings_total": registry_total,
        "alarm": served_alarm(night["models"]),
        "skipped_history": list(skipped_history),
    }
