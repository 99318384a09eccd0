"""Chart geometry for the page: numbers only. The template draws them as inline SVG, so every
label still goes through Jinja2's autoescaping (no markup is built here)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

SEVERITY_ORDER = ("error", "warning", "info")  # bottom to top in the stacked bars


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * exponent:
            return float(step * exponent)
    return float(10 * exponent)


def findings_trend(trend: Sequence[Mapping[str, Any]], width: int = 560, height: int = 180) -> dict[str, Any]:
    """Stacked bars of findings by severity, one per night."""
    left, right, top, bottom = 44, 8, 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max((sum(n["findings"].values()) for n in trend), default=0))
    slot = plot_w / max(len(trend), 1)
    bar_w = max(min(slot * 0.7, 40), 2)
    bars = []
    for i, night in enumerate(trend):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        for severity in SEVERITY_ORDER:
            count = night["findings"].get(severity, 0)
            h = plot_h * count / top_value
            if count:
                y -= h
                bars.append({"x": round(x, 1), "y": round(y, 1), "w": round(bar_w, 1), "h": round(max(h, 1), 1),
                             "severity": severity, "title": f"{night['date']}: {count} {severity}"})
    return {
        "width": width, "height": height, "left": left, "top": top, "plot_w": plot_w, "plot_h": plot_h,
        "bars": bars, "ticks": _ticks(top_value, top, plot_h), "labels": _date_labels(trend, left, slot, height - 8),
    }


def score_trend(trend: Sequence[Mapping[str, Any]], width: int = 560, height: int = 180) -> dict[str, Any]:
    """The reproducibility score per night, 0-100 %, as a line with points."""
    left, right, top, bottom = 44, 8, 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(len(trend), 1)
    points = []
    for i, night in enumerate(trend):
        if night["score"] is None:
            continue
        x = left + i * slot + slot / 2
        y = top + plot_h * (1 - night["score"])
        points.append({"x": round(x, 1), "y": round(y, 1), "title": f"{night['date']}: {night['score'] * 100:.1f} %"})
    return {
        "width": width, "height": height, "left": left, "top": top, "plot_w": plot_w, "plot_h": plot_h,
        "points": points, "path": " ".join(f"{'M' if i == 0 else 'L'}{p['x']},{p['y']}" for i, p in enumerate(points)),
        "ticks": [{"y": round(top + plot_h * (1 - f), 1), "label": f"{int(f * 100)} %"} for f in (0, 0.25, 0.5, 0.75, 1)],
        "labels": _date_labels(trend, left, slot, height - 8),
    }


def _ticks(top_value: float, top: float, plot_h: float) -> list[dict[str, Any]]:
    return [{"y": round(top + plot_h * (1 - f), 1), "label": f"{top_value * f:g}"} for f in (0, 0.5, 1)]


def _date_labels(trend: Sequence[Mapping[str, Any]], left: float, slot: float, y: float) -> list[dict[str, Any]]:
    """At most about 8 date labels, always the last night's."""
    every = max(1, math.ceil(len(trend) / 8))
    last = len(trend) - 1
    return [{"x": round(left + i * slot + slot / 2, 1), "y": y, "text": n["date"][5:]}
            for i, n in enumerate(trend) if (last - i) % every == 0]


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def reproduction_chart(metrics: Sequence[Mapping[str, Any]], width: int = 900) -> dict[str, Any]:
    """One row per metric, each on its own scale centred on the original value: the tolerance
    band around it, the original (a diamond) and each reproduced value (a dot). Metrics of
    different magnitudes (accuracy, loss, seconds) cannot share one axis honestly."""
    label_w, value_w, row_h, top = 150, 280, 38, 6
    track_l, track_r = label_w, width - value_w
    centre = (track_l + track_r) / 2
    half = (track_r - track_l) / 2 - 8
    rows = []
    for i, metric in enumerate(metrics):
        original = _finite(metric.get("original"))
        values = [_finite(v) for v in metric.get("reproduced", [])]
        band = _finite(metric.get("band")) or 0.0
        y = top + i * row_h + row_h / 2
        # At least ±1 % of the original: an identical run must not blow a 1e-9 band up to the
        # whole track. The ends of the track are labelled with the offset they stand for.
        floor = abs(original) * 0.01 if original else 1e-12
        spread = max([abs(v - original) for v in values if v is not None and original is not None] + [band, floor])
        scale = half / (spread * 1.25)
        dots = [{"x": round(centre + (v - original) * scale, 1), "title": f"reproduced {v:.6g}"}
                for v in values if v is not None and original is not None]
        rows.append({
            "name": metric["name"], "y": round(y, 1), "outcome": metric.get("outcome", ""),
            "original": original, "has_original": original is not None,
            # The band stays visible (2 px) even when the tolerance is 1e-9 of the value.
            "band_x": round(centre - max(band * scale, 1), 1), "band_w": round(max(2 * band * scale, 2), 1),
            "dots": dots,
            "span": f"{spread * 1.25:.2g}",
            "text": _value_text(metric.get("original"), metric.get("reproduced", [])),
        })
    return {"width": width, "height": top * 2 + max(len(rows), 1) * row_h, "centre": round(centre, 1),
            "track_l": track_l, "track_r": track_r, "rows": rows, "value_x": track_r + 8}


def _value_text(original: Any, reproduced: Sequence[Any]) -> str:
    def show(v: Any) -> str:
        return "—" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)

    return f"{show(original)} → " + ", ".join(show(v) for v in reproduced[:3]) + (" …" if len(reproduced) > 3 else "")
