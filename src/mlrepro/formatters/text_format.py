"""ruff/flake8 text: ``path:row:col: CODE message`` and a closing count."""

from __future__ import annotations

from mlrepro.findings import Finding
from mlrepro.formatters import FixSummary, Report


def where(finding: Finding) -> str:
    if finding.filename is None:
        return finding.run.run_id if finding.run and finding.run.run_id else "-"
    loc = finding.location
    if loc is None:
        return finding.filename
    cell = f"cell {finding.cell}:" if finding.cell is not None else ""
    return f"{finding.filename}:{cell}{loc.row}:{loc.column}"


def summary_line(count: int) -> str:
    if count == 0:
        return "All checks passed!"
    return f"Found {count} finding{'s' if count != 1 else ''}."


def run_heading(finding: Finding) -> str:
    run = finding.run
    assert run is not None
    if run.model:
        name, _, version = run.model.rpartition("/")
        return f"model {name} version {version}" + (f" (run {run.run_id})" if run.run_id else "")
    if run.source == "wandb":
        details = [d for d in (run.run_name and f"'{run.run_name}'", run.experiment_name and f"project '{run.experiment_name}'", run.start_time and f"started {run.start_time}", run.run_dir) if d]
        return f"W&B run {run.run_id}" + (f" ({', '.join(details)})" if details else "")
    details = [d for d in (run.run_name and f"'{run.run_name}'", run.experiment_name and f"experiment '{run.experiment_name}'", run.start_time and f"started {run.start_time}") if d]
    return f"run {run.run_id}" + (f" ({', '.join(details)})" if details else "")


def render(report: Report) -> str:
    lines: list[str] = []
    heading = None
    for f in report.findings:
        if f.filename is None and f.run is not None:
            # Run findings have no file position: group them under their run, like pytest does by module.
            current = run_heading(f)
            if current != heading:
                lines.append(current)
                heading = current
            lines.append(f"  {f.code} {f.message}")
        else:
            mark = " [*]" if report.fixes is not None and report.fixes.show and _applicable(f, report.fixes) else ""
            lines.append(f"{where(f)}: {f.code}{mark} {f.message}")
    lines.extend(f"info: {note}" for note in report.notes)
    if report.fixes is None:
        lines.append(summary_line(len(report.findings)))
    else:
        lines.extend(fix_lines(report.fixes, len(report.findings)))
    return "\n".join(lines) + "\n"


def _applicable(finding: Finding, fixes: FixSummary) -> bool:
    return finding.autofix is not None and (finding.autofix.applicability == "safe" or fixes.unsafe)


def _count(n: int, word: str = "finding") -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def fixed_listing(fixes: FixSummary) -> list[str]:
    """ruff's ``--show-fixes`` block: the fixes made, per file and rule."""
    if not fixes.fixed:
        return []
    per_file: dict[str, dict[tuple[str, str], int]] = {}
    for file, code, name in fixes.fixed:
        rules = per_file.setdefault(file, {})
        rules[(code, name)] = rules.get((code, name), 0) + 1
    lines = [f"Fixed {_count(len(fixes.fixed))}:"]
    for file in sorted(per_file):
        lines.append(f"- {file}:")
        lines.extend(f"    {count} × {code} ({name})" for (code, name), count in sorted(per_file[file].items()))
    return [*lines, ""]


def hint_line(fixes: FixSummary) -> str | None:
    """``[*] 2 fixable with the `--fix` option (1 hidden fix can be enabled with the `--unsafe-fixes` option).``"""
    hidden = (
        f"{fixes.hidden} hidden fix{'es' if fixes.hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option"
        if fixes.hidden else ""
    )
    if fixes.fixable:
        return f"[*] {fixes.fixable} fixable with the `--fix` option" + (f" ({hidden})." if hidden else ".")
    if hidden:
        return f"No fixes available ({hidden})."
    return None


def fix_lines(fixes: FixSummary, remaining: int) -> list[str]:
    lines = fixed_listing(fixes) if fixes.show else []
    fixed = len(fixes.fixed)
    if fixes.applied and fixed:
        lines.append(f"Found {_count(fixed + remaining)} ({fixed} fixed, {remaining} remaining).")
    else:
        lines.append(summary_line(remaining))
    hint = hint_line(fixes)
    if hint is not None:
        lines.append(hint)
    return lines
