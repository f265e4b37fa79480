"""Screenshot a local HTML file with headless Chromium, to look at a report the way a reader will.

    python scripts/screenshot_html.py FILE.html OUT.png [--width 1280] [--height 4000]

The window height defaults to a generous guess from the file (charts, table rows, headings);
the empty band below the page is trimmed from the picture afterwards. Exits 2 when Chromium is not installed (on Debian:
``apt-get install chromium``) or the input is missing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def guess_height(page: str, width: int) -> int:
    """Roughly the page's height in CSS pixels: each SVG at its own aspect ratio, ~30 px a table
    row, plus headings and margins. Generous on purpose: a cut page hides problems."""
    scale = min(width - 80, 1100 - 40) / 1.0
    height = 600
    for match in re.finditer(r'<svg[^>]*viewBox="0 0 ([\d.]+) ([\d.]+)"', page):
        w, h = float(match.group(1)), float(match.group(2))
        # Half-width charts sit two to a row; count each at half its height to even that out.
        full = w > 600
        height += int(scale * h / w * (1 if full else 0.5)) + 60
    height += 30 * page.count("<tr")
    height += 40 * len(re.findall(r"<h[1-4]", page))
    return max(800, min(height, 16000))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the local HTML file")
    parser.add_argument("png", type=Path, help="where to write the screenshot")
    parser.add_argument("--width", type=int, default=1280, help="window width in CSS px")
    parser.add_argument("--height", type=int, default=None, help="window height (default: guessed)")
    args = parser.parse_args(argv)

    chromium = find_chromium()
    if chromium is None:
        print(
            "screenshot_html: Chromium not found (looked for /usr/bin/chromium and "
            f"{', '.join(CANDIDATES)} on PATH, or $CHROMIUM); on Debian: apt-get install -y chromium",
            file=sys.stderr,
        )
        return 2
    source = args.html.resolve()
    if not source.is_file():
        print(f"screenshot_html: {args.html}: no such file", file=sys.stderr)
        return 2
    height = args.height or guess_height(
        source.read_text(encoding="utf-8", errors="replace"), args.width
    )
    out = args.png.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)  # so that a stale picture cannot pass for a new one
    # A throwaway profile: no first-run state, no clash with a browser the user has open.
    with tempfile.TemporaryDirectory(prefix="screenshot-html-") as profile:
        command = [
            chromium,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",  # root in containers has no user namespaces to sandbox with
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            f"--screenshot={out}",
            f"--window-size={args.width},{height}",
            source.as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired:
            print("screenshot_html: Chromium did not finish within 120 s", file=sys.stderr)
            return 1
    if done.returncode != 0 or not out.is_file():
        print(
            f"screenshot_html: Chromium failed ({done.returncode}):\n{done.stderr}", file=sys.stderr
        )
        return 1
    size = trim_bottom(out)
    print(f"{out} ({size[0]}×{size[1]}; window {args.width}×{height})")
    return 0


def trim_bottom(png: Path, margin: int = 24) -> tuple[int, int]:
    """Cut the empty band below the page (the window height is a guess); needs Pillow, which
    matplotlib brings. Without it the picture is left as it is."""
    try:
        from PIL import Image, ImageChops
    except ImportError:
        return (0, 0)
    with Image.open(png) as image:
        picture = image.convert("RGB")
    background = Image.new("RGB", picture.size, picture.getpixel((0, picture.height - 1)))
    box = ImageChops.difference(picture, background).getbbox()
    if box is not None and box[3] + margin < picture.height:
        picture = picture.crop((0, 0, picture.width, box[3] + margin))
        picture.save(png)
    return picture.size


if __name__ == "__main__":
    sys.exit(main())
