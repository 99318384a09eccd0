"""The nightly report as one self-contained HTML page (``mlrepro report``).

Rendered from the night's JSON data with Jinja2, autoescaped: every string a user typed (run
names, tags, params, model names) reaches the page as text. Inline CSS and inline SVG, no
scripts, fonts or images from anywhere: the file opens offline, from a mail attachment or a
CI artifact. Jinja2 is the ``report`` extra, imported only here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlrepro.redaction import redact

TEMPLATE = "report.html.j2"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _short(sha: str | None, length: int = 12) -> str:
    return (sha or "")[:length]


def require_jinja2() -> None:
    """Fail before the audit (and any reproduction) runs, not after, when Jinja2 is missing."""
    import importlib.util

    if importlib.util.find_spec("jinja2") is None:
        raise ValueError("the HTML report needs Jinja2: pip install 'mlrepro[report]'")


def render_page(context: dict[str, Any]) -> str:
    """Render the page from ``nightly.snapshot.page_context`` data."""
    require_jinja2()
    import jinja2

    from mlrepro.nightly import charts

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("html")),
        autoescape=True,  # for every template, whatever its file name
        undefined=jinja2.StrictUndefined,  # a misspelt field fails the tests instead of vanishing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["percent"] = _percent
    env.filters["short"] = _short
    trend = context["trend"]
    return redact(env.get_template(TEMPLATE).render(
        **context,
        findings_chart=charts.findings_trend(trend),
        score_chart=charts.score_trend(trend),
        repro_charts=[charts.reproduction_chart(r["metrics"]) for r in context["night"]["reproductions"]],
    ))
