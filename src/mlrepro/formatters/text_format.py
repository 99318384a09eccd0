"""ruff/flake8 text: ``path:row:col: CODE message`` and a closing count."""

from __future__ import annotations

from mlrepro.findings import Finding
from mlrepro.formatters import Report


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
            lines.append(f"{where(f)}: {f.code} {f.message}")
    lines.extend(f"info: {note}" for note in report.notes)
    lines.append(summary_line(len(report.findings)))
    return "\n".join(lines) + "\n"
