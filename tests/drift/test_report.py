"""The drift report page: one self-contained HTML file with inline SVG charts, only aggregates,
every user string escaped, small and quick to render whatever the number of rows checked.

``drift_result`` builds a realistic check result. To look at the page it makes:
``python -m tests.drift.test_report /tmp/drift-sample.html`` and then
``python scripts/screenshot_html.py /tmp/drift-sample.html /tmp/drift-sample.png``."""

from __future__ import annotations

import itertools
import math
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from modelledger.drift.report.page import MAX_BARS, MAX_CHARTS, render_html, write_html

SCRIPT_NAME = "<script>alert(1)</script>"
UNTIL = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
POLICY = {
    "psi_warn": 0.1,
    "psi_alert": 0.2,
    "p_value": 0.01,
    "min_observations": 50,
    "sha256": "3f" * 32,
}


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def numeric_bins(edges: list[float]) -> list[str]:
    inner = [f"{a:.3g}–{b:.3g}" for a, b in itertools.pairwise(edges)]
    return [f"≤ {edges[0]:.3g}", *inner, f"> {edges[-1]:.3g}"]


def shifted(n: int, bins: int, shift: float) -> list[int]:
    """Counts of ``n`` rows over ``bins`` bins, uniform when shift is 0, leaning right as it grows."""
    weights = [math.exp(shift * (i - bins / 2) / bins * 4) for i in range(bins)]
    total = sum(weights)
    return [round(n * w / total) for w in weights]


def drift_signal(
    name: str, status: str, psi: float, n: int, ref_rows: int, **extra: Any
) -> dict[str, Any]:
    bins = extra.pop("bins", 10)
    shift = {"alert": 0.9, "warn": 0.45}.get(status, 0.03)
    details = {
        "psi": psi,
        "js": round(psi / 4, 4),
        "ks_d": round(psi / 2.5, 4),
        "ks_p": 1e-300 if status == "alert" else (0.004 if status == "warn" else 0.41),
        "null_rate_reference": 0.002,
        "null_rate_current": 0.031 if status == "alert" else 0.002,
    }
    threshold = POLICY["psi_alert"] if status == "alert" else POLICY["psi_warn"]
    return {
        "kind": extra.pop("kind", "input"),
        "name": name,
        "status": status,
        "statistic": "psi",
        "value": psi,
        "threshold": threshold,
        "n": n,
        "message": f"PSI {psi:.3g} {'≥' if status != 'ok' else '<'} {threshold}; KS p {details['ks_p']:.2g}",
        "details": details,
        "histogram": {
            "labels": numeric_bins([round(1.7**i, 1) for i in range(bins - 1)]),
            "reference": shifted(ref_rows, bins, 0.0),
            "current": shifted(n, bins, shift),
        },
        **extra,
    }


def categorical_signal(n: int, ref_rows: int) -> dict[str, Any]:
    """``merchant_category``: the "crypto" category vanished, "bnpl" is new."""
    labels = [
        "grocery",
        "fuel",
        "travel",
        "electronics",
        "restaurants",
        "crypto",
        "gambling",
        "other",
    ]
    ref_share = [0.30, 0.15, 0.12, 0.10, 0.14, 0.06, 0.03, 0.10]
    cur_share = [0.34, 0.16, 0.08, 0.13, 0.15, 0.0, 0.04, 0.10]
    return {
        "kind": "input",
        "name": "merchant_category",
        "status": "alert",
        "statistic": "psi",
        "value": 0.27,
        "threshold": 0.2,
        "n": n,
        "message": "PSI 0.27 ≥ 0.2; χ² p < 1e-300; 1 new category; 1 category vanished",
        "details": {
            "psi": 0.27,
            "js": 0.061,
            "chi2_p": 1e-300,
            "null_rate_reference": 0.0,
            "null_rate_current": 0.0,
            "new_categories": {"bnpl": round(n * 0.012)},
        },
        "histogram": {
            "labels": labels,
            "reference": [round(ref_rows * s) for s in ref_share],
            "current": [round(n * s) for s in cur_share],
        },
    }


def quality_signal(buckets: int = 48, n_per_bucket: int = 120) -> dict[str, Any]:
    start = UNTIL - timedelta(hours=24)
    series = []
    for i in range(buckets):
        n = n_per_bucket + (i * 37) % 60 - 30 if n_per_bucket else 0
        accuracy = 0.93 - 0.0025 * i + 0.02 * math.sin(i / 3)  # slides below the floor late on
        series.append(
            {
                "start": stamp(start + timedelta(minutes=30 * i)),
                "n": n,
                "correct": round(n * accuracy),
            }
        )
    n = sum(b["n"] for b in series)
    correct = sum(b["correct"] for b in series)
    return {
        "kind": "quality",
        "name": "accuracy",
        "status": "warn",
        "statistic": "accuracy",
        "value": correct / n if n else None,
        "threshold": 0.88,
        "n": n,
        "message": "accuracy 0.874 < floor 0.88 (95% CI 0.867–0.881 overlaps it)",
        "details": {
            "series": series,
            "ci": [0.867, 0.881],
            "floor_source": "gate policy accuracy min",
        },
    }


def slice_signal(
    name: str, definition: dict[str, str], n: int, value: float, status: str
) -> dict[str, Any]:
    return {
        "kind": "slice",
        "name": name,
        "status": status,
        "statistic": "accuracy",
        "value": value,
        "threshold": 0.85,
        "n": n,
        "message": f"accuracy {value:.3g} {'<' if status == 'alert' else '≥'} bar 0.85",
        "details": {"definition": definition, "ci": [value - 0.02, min(value + 0.02, 1.0)]},
    }


def drift_version(
    predictions: int = 1_000_000,
    *,
    label: str = "fraud@3",
    features: int = 20,
    alerting: tuple[str, ...] = ("amount", SCRIPT_NAME),
    warning: tuple[str, ...] = ("hour_of_day",),
    bins: int = 10,
) -> dict[str, Any]:
    """A version with ``features`` input signals: the alerting ones (plus merchant_category,
    categorical), the warning ones, the rest ok; the output; quality; three slices; a missing
    feature."""
    ref_rows = 12345
    signals: list[dict[str, Any]] = [categorical_signal(predictions, ref_rows)]
    names = [*alerting, *warning]
    names += [f"feature_{i:02d}" for i in range(features - 1 - len(names))]
    for i, name in enumerate(names):
        if name in alerting:
            signals.append(
                drift_signal(name, "alert", 0.31 + 0.1 * i, predictions, ref_rows, bins=bins)
            )
        elif name in warning:
            signals.append(drift_signal(name, "warn", 0.14, predictions, ref_rows, bins=bins))
        else:
            signals.append(
                drift_signal(name, "ok", 0.01 + 0.003 * i, predictions, ref_rows, bins=bins)
            )
    signals.append(drift_signal("output", "ok", 0.04, predictions, ref_rows, kind="output"))
    signals.append(quality_signal())
    signals += [
        slice_signal("region=north", {"region": "north"}, 2400, 0.91, "ok"),
        slice_signal("region=south", {"region": "south"}, 1900, 0.79, "alert"),
        slice_signal("new customers", {"tenure": "<30d"}, 880, 0.87, "ok"),
    ]
    signals.append(
        {
            "kind": "missing_feature",
            "name": "device_fingerprint",
            "status": "alert",
            "statistic": None,
            "value": None,
            "threshold": None,
            "n": predictions,
            "message": "in the reference profile, absent from every logged request",
            "details": {},
        }
    )
    return {
        "version_id": "mv-" + "ab12" * 16,
        "label": label,
        "predictions": predictions,
        "status": "alert",
        "reference": {"profile": "c0ffee" * 10 + "abcd", "source": "training", "rows": ref_rows},
        "signals": signals,
    }


def drift_result(predictions: int = 1_000_000, **version: Any) -> dict[str, Any]:
    return {
        "env": "production",
        "checked_at": "2026-11-25T10:00:00.000000Z",
        "window": {
            "since": stamp(UNTIL - timedelta(hours=24)),
            "until": stamp(UNTIL),
            "text": "24h",
        },
        "status": "alert",
        "message": "3 features drifted past the alert threshold; accuracy near its floor",
        "policy": POLICY,
        "versions": [drift_version(predictions, **version)],
    }


def empty_result() -> dict[str, Any]:
    result = drift_result()
    result.update(status="insufficient", message="no predictions in the window", versions=[])
    return result


VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source"})


class StrictParser(HTMLParser):
    """Raises on an end tag that does not close the innermost open element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1:]}>"
        self.open.pop()


def parse(page: str) -> StrictParser:
    parser = StrictParser()
    parser.feed(page)
    parser.close()
    assert parser.open == [], f"unclosed: {parser.open}"
    return parser


NETWORK = re.compile(
    r"""(?:\b(?:src|href|xlink:href)\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)\s*(?:https?:)?//""",
    re.I,
)


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(drift_result())


def figures(page: str) -> list[str]:
    return re.findall(r"<figure class='chart[^']*'>.*?</figure>", page, flags=re.S)


def test_parses_with_every_element_closed(page):
    tags = parse(page).tags
    assert tags.count("svg") == 6  # 3 alerting and 1 warning feature, quality, slices
    assert "script" not in tags and "img" not in tags and "link" not in tags


def test_charts_for_drifted_features_quality_and_slices(page):
    charts = figures(page)
    drifted = [c for c in charts if "PSI" in c]
    titles = " ".join(drifted)
    for name in ("amount", "merchant_category", "hour_of_day", "&lt;script&gt;"):
        assert name in titles
    assert len(drifted) == 4  # 3 alerts + 1 warn; ok features and the ok output get none
    assert "feature_03" not in titles and "device_fingerprint" not in titles
    assert all("<svg" in c for c in charts)
    assert any("per bucket" in c for c in charts)
    assert any("Accuracy per slice" in c for c in charts)
    assert len(charts) == 6


def test_svg_is_inline_and_lean(page):
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "<metadata" not in page
    assert "font-family" in page and "<text" in page  # svg.fonttype none: text stays text


def test_no_network_references(page):
    assert not NETWORK.findall(page)
    assert "@import" not in page
    # The only absolute URLs left are the SVG namespace names, which nothing fetches.
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    for attribute in re.findall(r"\b[\w:-]+=\"https?://[^\"]*\"", page):
        assert attribute.startswith(("xmlns=", "xmlns:xlink="))


def test_user_strings_are_escaped(page):
    assert SCRIPT_NAME not in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # table and caption
    result = drift_result()
    result["env"] = "prod<b>"
    result["versions"][0]["label"] = 'x" onmouseover="y'
    result["versions"][0]["signals"][0]["details"]["new_categories"] = {"<img src=x>": 5}
    hostile = render_html(result)
    assert "prod<b>" not in hostile and "prod&lt;b&gt;" in hostile
    assert 'x" onmouseover' not in hostile and "<img" not in hostile
    parse(hostile)


def test_dollar_signs_are_not_tex():
    result = drift_result(alerting=("price_$usd$",))
    assert "price_$usd$" in render_html(result)


def test_summary_table_worst_first(page):
    table = page[page.index("<table class='signals'>") : page.index("</table>")]
    statuses = re.findall(r"<span class='badge (\w+)'", table)
    assert len(statuses) == 20 + 1 + 1 + 3 + 1
    ranks = [["alert", "warn", "insufficient", "ok"].index(s) for s in statuses]
    assert ranks == sorted(ranks)
    assert "1e-300" in table  # values to 3 significant digits
    assert "<td class='num'>0.31</td>" in table


def test_header(page):
    header = page[: page.index("</header>")]
    assert "Drift report — production" in header
    assert "<span class='badge alert big'>alert</span>" in header
    assert "2026-11-24 10:00:00 UTC</time> → <time" in header
    assert (
        "<time datetime='2026-11-25T10:00:00.000000Z'>2026-11-25 10:00:00 UTC</time>"
        in header.split("Generated")[1]
    )
    assert "1 version, 26 signals" in header
    assert "PSI warn ≥ 0.1" in header and "alert ≥ 0.2" in header


def test_vanished_and_new_categories_are_named(page):
    assert "Empty in the window: crypto" in page
    assert "New categories: bnpl (12,000)" in page


def test_small_and_quick():
    import matplotlib.font_manager  # noqa: F401 — a one-off font cache build is not rendering

    started = time.perf_counter()
    page = render_html(drift_result())
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, f"{elapsed:.2f} s"
    assert len(page.encode()) < 1_500_000


def test_empty_result_renders():
    page = render_html(empty_result())
    parse(page)
    assert "no predictions in the window" in page
    assert "<span class='badge insufficient big'>insufficient</span>" in page
    assert "<svg" not in page


def test_no_feedback_in_window():
    result = drift_result()
    signals = result["versions"][0]["signals"]
    quality = next(s for s in signals if s["kind"] == "quality")
    quality["details"]["series"] = []
    page = render_html(result)
    assert "No feedback in window." in page
    assert not any("per bucket" in c for c in figures(page))


def test_size_does_not_grow_with_predictions(tmp_path: Path):
    small, large = tmp_path / "small.html", tmp_path / "large.html"
    write_html(drift_result(predictions=1_000), small)
    write_html(drift_result(predictions=1_000_000), large)
    # Only digit counts differ ("1,000" against "1,000,000" and the like).
    assert abs(large.stat().st_size - small.stat().st_size) < 2_000
    assert large.stat().st_size < 1_500_000
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "large.html",
        "small.html",
    ]  # no temp file


def test_caps_charts_and_bars():
    alerting = tuple(f"drifted_{i:02d}" for i in range(MAX_CHARTS + 5))
    result = drift_result(features=40, alerting=alerting, warning=(), bins=150)
    page = render_html(result)
    drifted = [c for c in figures(page) if "PSI" in c]
    assert len(drifted) == MAX_CHARTS
    # 25 given + merchant_category = 26 drifted with a histogram; 20 charted.
    assert "6 more drifted features not charted" in page
    reference_bars = drifted[0].count("fill: #9aa4b1")
    assert reference_bars == MAX_BARS + 1  # 150 bins: 59 largest, "other"; and the legend key
    assert "other (" in drifted[0]
    assert len(page.encode()) < 1_500_000


def test_sparse_and_odd_results_render():
    """Keys that may be null or absent, empty series and histograms, a single bucket: no crash,
    still a well-formed page."""
    result = drift_result()
    version = result["versions"][0]
    version["reference"] = None
    signals = version["signals"]
    signals[0]["histogram"] = {"labels": ["a", "b"], "reference": [0, 0], "current": [0, 0]}
    signals[1].pop("histogram")
    signals[2]["details"] = {}
    quality = next(s for s in signals if s["kind"] == "quality")
    quality["details"]["series"] = quality["details"]["series"][:1]
    quality["threshold"] = None
    slices = [s for s in signals if s["kind"] == "slice"]
    slices[0].update(value=None, status="insufficient", details={})
    bare = {
        "version_id": "mv-x",
        "label": "fraud@9",
        "predictions": 3,
        "status": "insufficient",
        "reference": None,
        "signals": [],
    }
    result["versions"].append(bare)
    page = render_html(result)
    parse(page)
    assert "Drifted, no histogram recorded: amount." in page
    assert "no reference profile" in page
    assert page.count("No feedback in window.") == 1  # fraud@9; fraud@3 has one bucket


def test_write_replaces_atomically(tmp_path: Path):
    target = tmp_path / "report.html"
    target.write_text("old")
    write_html(empty_result(), target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


if __name__ == "__main__":  # python -m tests.drift.test_report OUT.html
    write_html(drift_result(), Path(sys.argv[1]))
