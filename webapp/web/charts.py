"""Small server-side SVG charts for the results page (no chart library, no script)."""
from __future__ import annotations

from markupsafe import Markup, escape

from webapp.core.reasons import REASONS_BY_CODE

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 480, 230, 16, 36, 24


def _open_svg(width: int, height: int, text: str, css: str = "chart") -> str:
    """An SVG image whose text alternative states its figures: aria-label for assistive technology
    (what axe-core checks), <title> for a tooltip."""
    return (f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(text)}" class="{css}">'
            f"<title>{escape(text)}</title>")


def bar_chart(labels: list[str], values: list[float], *, title: str, value_format: str = "{:,.0f}",
              max_value: float | None = None, highlight_from: int | None = None,
              reference: tuple[float, str] | None = None) -> Markup:
    """A labelled vertical bar chart as inline SVG, with a <title> and text for screen readers."""
    top = max_value or max(values, default=0) or 1
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / max(len(values), 1)
    text = f"{title}: " + "; ".join(f"{l} {value_format.format(v)}" for l, v in zip(labels, values))
    parts = [_open_svg(WIDTH, HEIGHT, text),
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
    if reference is not None:  # a dashed horizontal line, e.g. four-fifths of the highest rate
        level, text = reference
        y = PAD_TOP + plot_h - plot_h * (level / top)
        parts.append(f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - 8}" y2="{y:.1f}" class="reference"/>')
        parts.append(f'<text x="{WIDTH - 10}" y="{y - 4:.1f}" class="reference-label">{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def probability_histogram(counts: list[int], threshold: float) -> Markup:
    bins = len(counts)
    labels = [f"{i / bins:.1f}" for i in range(bins)]
    return bar_chart(labels, counts, title="Applications by approval probability",
                     highlight_from=int(threshold * bins))


def approval_by_group(attribute: str, entry: dict) -> Markup:
    """Approval rate per group of a monitored attribute, with the four-fifths line when judged."""
    groups = entry["groups"]
    names = list(groups)
    rates = [groups[n]["approval_rate"] or 0 for n in names]
    labels = [f"{n} ({groups[n]['rows']:,})" for n in names]
    reference = None
    if entry["adverse_impact_ratio"] is not None:
        judged = [groups[n]["approval_rate"] for n in names if groups[n]["rows"] >= 30 and not n.startswith("(")]
        reference = (0.8 * max(judged), "four-fifths of the highest")
    return bar_chart(labels, rates, title=f"Approval rate by {attribute}", value_format="{:.0%}", max_value=1,
                     reference=reference)


def decline_reasons(counts: dict[str, int], most: int = 8) -> Markup:
    """Declined applications per principal reason, most cited first (horizontal bars: the texts are long)."""
    items = sorted(counts.items(), key=lambda item: -item[1])[:most]
    top = max((n for _, n in items), default=1) or 1
    row_h, label_w, width = 30, 400, WIDTH + 320
    height = row_h * len(items) + 10
    summary = "; ".join(f"{REASONS_BY_CODE[code].text}: {n:,}" for code, n in items)
    parts = [_open_svg(width, height, f"Declined applications by principal reason: {summary}", "chart chart-wide")]
    for i, (code, n) in enumerate(items):
        y = 5 + i * row_h
        w = (width - label_w - 60) * n / top
        parts.append(f'<text x="{label_w - 8}" y="{y + row_h * 0.62:.1f}" class="label label-left">'
                     f"{escape(REASONS_BY_CODE[code].text)}</text>")
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 10}" class="bar bar-high"/>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + row_h * 0.62:.1f}" class="value value-left">{n:,}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def paired_bars(labels: list[str], first: list[float | None], second: list[float | None], *, title: str,
                names: tuple[str, str], value_format: str = "{:.0%}", max_value: float | None = None) -> Markup:
    """Two series side by side per label (e.g. training vs this file), with a legend."""
    values = [v or 0 for v in (*first, *second)]
    top = max_value or max(values, default=0) or 1
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP - 14
    slot = plot_w / max(len(labels), 1)
    described = "; ".join(f"{label}: {names[0]} {_fmt(value_format, a)}, {names[1]} {_fmt(value_format, b)}"
                          for label, a, b in zip(labels, first, second))
    parts = [_open_svg(WIDTH, HEIGHT, f"{title}: {described}"),
             f'<rect x="{PAD_LEFT}" y="4" width="10" height="10" class="bar"/>'
             f'<text x="{PAD_LEFT + 14}" y="13" class="legend">{escape(names[0])}</text>',
             f'<rect x="{PAD_LEFT + 150}" y="4" width="10" height="10" class="bar bar-high"/>'
             f'<text x="{PAD_LEFT + 164}" y="13" class="legend">{escape(names[1])}</text>',
             f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + 14 + plot_h}" x2="{WIDTH - 8}" y2="{PAD_TOP + 14 + plot_h}" '
             'class="axis"/>']
    for i, (label, a, b) in enumerate(zip(labels, first, second)):
        for j, (value, css) in enumerate(((a, "bar"), (b, "bar bar-high"))):
            h = plot_h * ((value or 0) / top)
            x = PAD_LEFT + i * slot + slot * (0.1 + 0.4 * j)
            parts.append(f'<rect x="{x:.1f}" y="{PAD_TOP + 14 + plot_h - h:.1f}" width="{slot * 0.38:.1f}" '
                         f'height="{h:.1f}" class="{css}"/>')
        parts.append(f'<text x="{PAD_LEFT + i * slot + slot * 0.5:.1f}" y="{HEIGHT - PAD_BOTTOM + 16:.1f}" '
                     f'class="label">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _fmt(value_format: str, value: float | None) -> str:
    return "n/a" if value is None else value_format.format(value)


def reliability(calibration: list[dict]) -> Markup:
    """Predicted vs observed approval per probability band (a reliability diagram as bars)."""
    labels = [f"{row['lower']:.1f}" for row in calibration]
    return paired_bars(labels, [row["mean_predicted"] for row in calibration],
                       [row["observed_rate"] for row in calibration], title="Predicted vs observed approval by band",
                       names=("predicted", "observed"), max_value=1)


def drift_distribution(name: str, entry: dict) -> Markup:
    """A feature's share per bin, training vs this file."""
    return paired_bars(entry["bins"], entry["expected"], entry["actual"], title=f"{name}: training vs this file",
                       names=("training data", "this file"))
