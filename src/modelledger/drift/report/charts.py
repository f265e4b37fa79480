"""The drift report's charts: matplotlib figures rendered to inline SVG for
:mod:`modelledger.drift.report.page`. The readers of a drift check's result values that the page
and the charts share are in :mod:`modelledger.drift.report.common`. matplotlib and numpy are
imported only inside the functions that draw, so importing this module does not import them.
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelledger.drift.report.common import (
    as_float,
    as_interval,
    as_status,
    as_text,
    cut,
    fmt_count,
    fmt_number,
    histogram_of,
    is_wide,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_BARS = 60  # bars per histogram; beyond that the smallest categories are pooled as "other"

_COLOUR = {"ok": "#1a7f37", "warn": "#b35900", "alert": "#cf222e", "insufficient": "#6e7781"}
_REFERENCE_COLOUR = "#9aa4b1"
_CURRENT_COLOUR = "#2f6fd8"


# --- charts --------------------------------------------------------------------------------------


@contextmanager
def _style(salt: str) -> Iterator[None]:
    import matplotlib

    # A literal in the call: matplotlib's stubs type the keys as literals.
    with matplotlib.rc_context(
        {
            "svg.fonttype": "none",  # text stays <text>: small files, selectable, searchable
            "svg.hashsalt": salt,  # clip-path ids: stable output, and unique across the page's SVGs
            "text.parse_math": False,  # a "$" in a feature name is a dollar sign, not TeX
            "font.family": "sans-serif",
            "font.sans-serif": ["DejaVu Sans", "Arial"],  # short: it is repeated on every <text>
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 10,
            "axes.titlelocation": "left",
            "axes.edgecolor": "#8c959f",
            "axes.grid": True,
            "axes.axisbelow": True,
            "grid.color": "#e6e9ec",
            "grid.linewidth": 0.6,
            "xtick.color": "#424a53",
            "ytick.color": "#424a53",
            "legend.frameon": False,
            "legend.fontsize": 8,
        }
    ):
        yield


def _new_figure(width: float, height: float, *, constrained: bool = True) -> Figure:
    # A bare Figure, never pyplot: no global figure registry to leak into or to close, and no
    # process-wide backend switch for programs that embed mledger.
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained" if constrained else None)
    FigureCanvasSVG(fig)
    return fig


def histogram_svg(signal: dict[str, Any], reference: dict[str, Any] | None, salt: str) -> str:
    import numpy as np
    from matplotlib.ticker import FuncFormatter

    hist = histogram_of(signal)
    assert hist is not None  # only called for signals that carry one
    labels, ref_counts, cur_counts = _cap_bars(*hist)
    ref, cur = _shares(ref_counts), _shares(cur_counts)
    d = signal.get("details") or {}
    title = (
        f"{cut(as_text(signal.get('name')))} — PSI {fmt_number(d.get('psi', signal.get('value')))}"
    )
    p = as_float(d.get("ks_p"))
    p = p if p is not None else as_float(d.get("chi2_p"))
    if p is not None:
        title += f" · p {fmt_number(p, digits=2)}"
    wide = is_wide(signal)
    source = as_text((reference or {}).get("source"))
    reference_label = f"reference ({source})" if source else "reference"
    with _style(salt):
        short = [cut(label, 16) for label in labels]
        crowded = len(labels) > (14 if wide else 7) or sum(map(len, short)) > (110 if wide else 50)
        # Upright past 40 bars: at 45° neighbouring labels would touch.
        rotation = 0 if not crowded else 90 if len(labels) > 40 else 45
        width = 10.6 if wide else 5.2
        left, bottom = _histogram_margins(short, rotation, width)
        height = 2.95 + bottom  # the plot keeps its height; long labels add to the figure's
        fig = _new_figure(width, height, constrained=False)
        fig.subplots_adjust(
            left=left / width,
            right=1 - 0.15 / width,
            bottom=bottom / height,
            top=1 - 0.52 / height,  # title, and the legend row under it
        )
        ax = fig.add_subplot()
        x = np.arange(len(labels))
        ax.bar(x - 0.2, ref, 0.4, color=_REFERENCE_COLOUR, label=reference_label)
        ax.bar(x + 0.2, cur, 0.4, color=_CURRENT_COLOUR, label="current window")
        for xi, r, c in zip(x, ref_counts, cur_counts, strict=True):
            if r > 0 and c == 0:  # a category (or range) that vanished: say so where the bar is not
                ax.text(
                    xi + 0.2, 0, "0", ha="center", va="bottom", fontsize=7, color=_COLOUR["alert"]
                )
        # Title on its own line and the legend under it, left-aligned: with a long feature name
        # the two cannot collide, and the legend never hides a bar.
        ax.set_title(
            title, color=_COLOUR[as_status(signal.get("status"))], fontweight="bold", pad=16
        )
        ax.legend(
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            ncols=2,
            borderaxespad=0.1,
            handlelength=1.2,
            columnspacing=1.2,
        )
        ax.yaxis.set_major_formatter(FuncFormatter(_percent))
        ax.grid(axis="x", visible=False)
        ax.set_xlim(-0.6, len(labels) - 0.4)
        ax.set_xticks(
            x,
            short,
            rotation=rotation,
            ha="right" if rotation else "center",
            va="center" if rotation == 90 else "top",
            rotation_mode="anchor" if rotation else "default",
            fontsize=8,
        )
        ax.tick_params(axis="x", length=0)
        return _to_svg(fig)


def _histogram_margins(labels: list[str], rotation: int, width: float) -> tuple[float, float]:
    """Left and bottom margins in inches for a histogram's tick labels. Worked out here rather
    than by constrained layout, which measures every label twice more and makes a page of many
    wide histograms much slower to draw; labels are cut to 16 characters, about 0.6 em each at
    8 pt."""
    char = 8 * 0.6 / 72
    if rotation == 0:
        return 0.6, 0.35
    slant = 1.0 if rotation == 90 else 0.71  # sin 45° = cos 45° ≈ 0.71
    bottom = max(map(len, labels)) * char * slant + 0.25
    if rotation == 90:
        return 0.6, bottom
    # At 45° the first label, anchored at its tick, reaches left of the axes when long.
    first_tick = (width - 0.75) * 0.6 / (len(labels) + 0.2)
    return max(0.6, len(labels[0]) * char * slant - first_tick + 0.12), bottom


def quality_svg(signal: dict[str, Any], series: list[tuple[datetime, int, int]], salt: str) -> str:
    import numpy as np
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from modelledger.core.stats import wilson_interval

    starts = [s for s, _, _ in series]
    n = np.array([k for _, k, _ in series], dtype=float)
    acc = np.array([c / k if k else math.nan for _, k, c in series])
    bounds = [wilson_interval(min(c, k), k) if k else (math.nan, math.nan) for _, k, c in series]
    low = np.array([b[0] for b in bounds])
    high = np.array([b[1] for b in bounds])
    step = _bucket_step(starts)
    centres = [s + step / 2 for s in starts]  # a bucket's point sits mid-bucket
    floor = as_float(signal.get("threshold"))
    status = as_status(signal.get("status"))
    floor_colour = _COLOUR["alert"] if status == "ok" else _COLOUR[status]
    with _style(salt):
        fig = _new_figure(10.6, 3.9)
        # Accuracy above, feedback volume below on the same time axis: thin buckets explain
        # noisy points, and neither panel hides the other.
        ax, counts = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        ax.fill_between(
            centres, low, high, color=_CURRENT_COLOUR, alpha=0.13, linewidth=0, label="95% interval"
        )
        ax.plot(
            centres,
            acc,
            color=_CURRENT_COLOUR,
            marker="o",
            markersize=3,
            linewidth=1.4,
            label=as_text(signal.get("name")) or "accuracy",
        )
        if floor is not None:
            ax.axhline(
                floor,
                color=floor_colour,
                linestyle="--",
                linewidth=1.2,
                label=f"floor {fmt_number(floor)}",
            )
        finite = [v for v in [*low, *high, floor] if v is not None and math.isfinite(v)]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
        pad = max((hi - lo) * 0.06, 0.005)
        ax.set_ylim(max(0.0, lo - pad), min(1.0 + pad / 2, hi + pad))
        ax.yaxis.set_major_formatter(FuncFormatter(_percent))
        ax.set_ylabel("accuracy")
        ax.set_title(
            f"{cut(as_text(signal.get('name')))} per {_duration(step)} bucket (UTC)",
            color="#1f2328",
            fontweight="bold",
            pad=16,
        )
        ax.legend(
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            ncols=3,
            borderaxespad=0.1,
            handlelength=1.6,
            columnspacing=1.2,
        )
        counts.bar(centres, n, width=step * 0.85, color="#afb8c1")
        counts.set_ylabel("feedback", fontsize=8)
        counts.yaxis.set_major_locator(MaxNLocator(3, integer=True))
        counts.tick_params(axis="y", labelsize=7)
        # matplotlib.dates has no annotations on these two constructors.
        locator = AutoDateLocator(maxticks=12)  # type: ignore[no-untyped-call]
        counts.xaxis.set_major_locator(locator)
        counts.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        counts.set_xlim(starts[0], starts[-1] + step)
        return _to_svg(fig)


def slices_svg(slices: list[dict[str, Any]], salt: str) -> str:
    import numpy as np
    from matplotlib.artist import Artist
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    y = np.arange(len(slices))[::-1]  # worst at the top
    values = [as_float(s.get("value")) for s in slices]
    colours = [_COLOUR[as_status(s.get("status"))] for s in slices]
    with _style(salt):
        fig = _new_figure(10.6, 0.9 + 0.34 * len(slices))
        ax = fig.add_subplot()
        ax.barh(y, [v or 0.0 for v in values], height=0.6, color=colours)
        for yi, s, v in zip(y, slices, values, strict=True):
            ci = as_interval((s.get("details") or {}).get("ci"))
            if v is not None and ci:
                ax.errorbar(
                    v,
                    yi,
                    xerr=[[max(v - ci[0], 0.0)], [max(ci[1] - v, 0.0)]],
                    fmt="none",
                    ecolor="#1f2328",
                    elinewidth=0.8,
                    capsize=2,
                )
            bar = as_float(s.get("threshold"))
            if bar is not None:
                ax.vlines(bar, yi - 0.4, yi + 0.4, colors="#1f2328", linewidth=2)
            note = f"{v:.1%}" if v is not None else "insufficient"
            note += f"  n={fmt_count(s.get('n'))}"
            ax.annotate(
                note,
                (1.0, yi),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color="#424a53",
                annotation_clip=False,
            )
        ax.set_yticks(y, [cut(as_text(s.get("name")), 28) for s in slices])
        ax.set_ylim(-0.6, len(slices) - 0.4)
        ax.set_xlim(0.0, 1.0)
        ax.xaxis.set_major_formatter(FuncFormatter(_percent))
        ax.grid(axis="y", visible=False)
        ax.tick_params(axis="y", length=0)
        ax.set_title("Accuracy per slice", color="#1f2328", fontweight="bold")
        handles: list[Artist] = [Patch(color=_COLOUR[k], label=k) for k in ("alert", "warn", "ok")]
        handles.append(Line2D([], [], color="#1f2328", linewidth=2, label="bar"))
        ax.legend(
            handles=handles,
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncols=4,
            borderaxespad=0.2,
        )
        return _to_svg(fig)


_TAG = re.compile(r"<[^<>]*>")
_ID = re.compile(r'\sid="([^"]*)"')
_PATH_DATA = re.compile(r'\sd="[^"]*"')
_LONG_DECIMAL = re.compile(r"(\d+\.\d)\d+")
_REFERENCE = re.compile(r"#([^\s\"'()]+)")


def _to_svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element: no XML prolog, DOCTYPE, metadata, comments or
    per-chart stylesheet, ids only where referenced, path coordinates to 0.1 pt."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # prolog and DOCTYPE (which names a URL) are for files only
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)  # RDF namespace URLs
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    # The same rule is set once in the page's CSS; an SVG <style> would apply page-wide anyway.
    svg = re.sub(r'<style type="text/css">.*?</style>', "", svg, flags=re.S)
    referenced = set(_REFERENCE.findall(" ".join(m.group(0) for m in _TAG.finditer(svg))))

    def tidy(tag: re.Match[str]) -> str:
        text = tag.group(0)
        # matplotlib's group ids (figure_1, patch_3, …) repeat in every chart: duplicates on a page.
        text = _ID.sub(lambda m: m.group(0) if m.group(1) in referenced else "", text)
        return _PATH_DATA.sub(lambda m: _LONG_DECIMAL.sub(r"\1", m.group(0)), text)

    # Only inside tags: text content (user data) is escaped by matplotlib and left alone.
    return _TAG.sub(tidy, svg).strip()


# --- data helpers --------------------------------------------------------------------------------


def _cap_bars(
    labels: list[str], ref: list[float], cur: list[float]
) -> tuple[list[str], list[float], list[float]]:
    """At most MAX_BARS bars: the bins with the largest share on either side keep their place
    and order, the rest are pooled into one "other" bar."""
    if len(labels) <= MAX_BARS:
        return labels, ref, cur
    ref_share, cur_share = _shares(ref), _shares(cur)
    weight = [max(r, c) for r, c in zip(ref_share, cur_share, strict=True)]
    keep = sorted(sorted(range(len(labels)), key=lambda i: -weight[i])[: MAX_BARS - 1])
    rest = set(range(len(labels))) - set(keep)
    return (
        [labels[i] for i in keep] + [f"other ({len(rest)})"],
        [ref[i] for i in keep] + [sum(ref[i] for i in rest)],
        [cur[i] for i in keep] + [sum(cur[i] for i in rest)],
    )


def _shares(counts: Sequence[float]) -> list[float]:
    total = sum(counts)
    return [c / total if total > 0 else 0.0 for c in counts]


def _bucket_step(starts: list[datetime]) -> timedelta:
    gaps = sorted(b - a for a, b in itertools.pairwise(starts) if b > a)
    return gaps[len(gaps) // 2] if gaps else timedelta(hours=1)


def _duration(step: timedelta) -> str:
    minutes = round(step.total_seconds() / 60)
    if minutes % 1440 == 0:
        return "day" if minutes == 1440 else f"{minutes // 1440}-day"
    if minutes % 60 == 0:
        return "hour" if minutes == 60 else f"{minutes // 60}-hour"
    return f"{minutes}-minute"


def _percent(share: float, _position: int | None = None) -> str:
    """An axis tick: 30%, 2.5%, 99.5%; never 30.0%."""
    return f"{share * 100:.4g}%"
