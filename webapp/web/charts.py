"""Small server-side SVG charts for the results page (no chart library, no script)."""
from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 480, 230, 16, 36, 24


def bar_chart(labels: list[str], values: list[float], *, title: str, value_format: str = "{:,.0f}",
              max_value: float | None = None, highlight_from: int | None = None) -> Markup:
    """A labelled vertical bar chart as inline SVG, with a <title> and text for screen readers."""
    top = max_value or max(values, default=0) or 1
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / max(len(values), 1)
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="t-{id(labels)}" class="chart">',
             f'<title id="t-{id(labels)}">{escape(title)}: '
             + escape("; ".join(f"{l} {value_format.format(v)}" for l, v in zip(labels, values))) + "</title>",
             f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - 8}" y2="{PAD_TOP + plot_h}" class="axis"/>']
    for i, (label, value) in enumerate(zip(labels, values)):
        h = plot_h * (value / top)
        x = PAD_LEFT + i * slot + slot * 0.15
        y = PAD_TOP + plot_h - h
        css = "bar bar-high" if highlight_from is not None and i >= highlight_from else "bar"
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" class="{css}"/>')
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{max(y - 5, 12):.1f}" class="value">'
                     f"{escape(value_format.format(value))}</text>")
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - PAD_BOTTOM + 16:.1f}" class="label">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def probability_histogram(counts: list[int], threshold: float) -> Markup:
    bins = len(counts)
    labels = [f"{i / bins:.1f}" for i in range(bins)]
    return bar_chart(labels, counts, title="Applications by approval probability",
                     highlight_from=int(threshold * bins))


def approval_by_segment(by_segment: dict[str, list[int]]) -> Markup:
    names = sorted(by_segment)
    rates = [by_segment[n][1] / by_segment[n][0] if by_segment[n][0] else 0 for n in names]
    labels = [f"{n} ({by_segment[n][0]:,})" for n in names]
    return bar_chart(labels, rates, title="Approval rate by property area", value_format="{:.0%}", max_value=1)
