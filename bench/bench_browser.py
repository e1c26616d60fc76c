"""The studio as a user sees it in Chromium: seconds from an action to its result on screen.

    python -m bench.bench_browser [--model msynth-fuse] [--repeats 5]

Measured side by side in one run against issue 16's targets, the median of --repeats (after one
warm-up click that loads the model, as the first visitor would):

- a click on a gallery sample -> the first depth image on screen;
- an upload of a real MS2 trio (RGB, NIR, 16-bit thermal from ../shared/samples/ms2; skipped,
  with the reason, where absent), from choosing the files -> the first depth image on screen;
- the point cloud on screen, counted from the depth on screen, after each of those;
- a display-only control (invert): the server's time in the studio's display step, the
  browser's time to the redrawn depth, and how many times the depth network ran (0 expected).

The studio runs in this process (``app.__main__.launch``) so the display step can be timed and
the network counted; Chromium (Debian's, 1400 x 900) is driven by Playwright. Samples and trios
alternate between repetitions so that every action changes what is shown.
"""
from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from core import inference
from core.models import DepthModel
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, SHARED_MS2

VIEWPORT = {"width": 1400, "height": 900}
TIMEOUT_MS = 120_000
TARGETS_S = {"gallery click -> depth": 1.5, "MS2 upload -> depth": 2.5, "depth -> point cloud": 3.0,
             "invert, server time": 0.3}
DEPTH_IMAGE = "#depth-view img"
UPLOAD_LABELS = {"rgb": "RGB (8-bit", "nir": "NIR (8-bit", "thr": "Thermal (16-bit"}
CLOUD = "#point-cloud .js-plotly-plot"
# Set on the point cloud on screen before an action, so the next one is told from it.
STALE = "data-bench-stale"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=inference.DEFAULT_CHECKPOINT, help="checkpoint the studio starts with")
    parser.add_argument("--repeats", type=int, default=5,
                        help="repetitions per measurement (median); 1-2 for a quick run")
    parser.add_argument("--ms2", type=Path, default=SHARED_MS2,
                        help="folder of real MS2 trios (<id>_{rgb,nir,thr}.png)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def ms2_trios(folder: Path) -> list[dict[str, Path]]:
    """Each complete RGB / NIR / thermal trio in the folder, by frame id."""
    trios = []
    for rgb in sorted(folder.glob("*_rgb.png")):
        trio = {s: rgb.with_name(rgb.name.replace("_rgb", f"_{s}")) for s in ("rgb", "nir", "thr")}
        if all(path.is_file() for path in trio.values()):
            trios.append(trio)
    return trios


def timed_calls(function: Callable, seconds: list[float]) -> Callable:
    """``function``, appending the seconds of each call to ``seconds``."""
    @functools.wraps(function)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - start)
    return timed


class StudioPage:
    """One browser page on the studio, with the actions the benchmark times."""

    def __init__(self, page):
        self.page = page

    def depth_source(self) -> str | None:
        image = self.page.locator(DEPTH_IMAGE)
        return image.first.get_attribute("src") if image.count() else None

    def wait_for_new_depth(self, before: str | None) -> None:
        """Until the depth image shown differs from ``before`` and has been decoded."""
        self.page.wait_for_function(
            """before => { const img = document.querySelector('#depth-view img');
                           return img && img.src !== before && img.complete && img.naturalWidth > 0; }""",
            arg=before, timeout=TIMEOUT_MS, polling="raf")

    def mark_cloud_stale(self) -> None:
        self.page.evaluate(f"() => document.querySelectorAll('{CLOUD}').forEach(e => e.setAttribute('{STALE}', ''))")

    def wait_for_new_cloud(self) -> None:
        self.page.wait_for_selector(f"{CLOUD}:not([{STALE}])", timeout=TIMEOUT_MS)

    def act(self, action: Callable[[], None]) -> tuple[float, float]:
        """(seconds from the action to the new depth on screen, then seconds to the new point cloud)."""
        before = self.depth_source()
        self.mark_cloud_stale()
        start = time.perf_counter()
        action()
        self.wait_for_new_depth(before)
        depth = time.perf_counter()
        self.wait_for_new_cloud()
        return depth - start, time.perf_counter() - depth

    def click_sample(self, index: int) -> tuple[float, float]:
        return self.act(lambda: self.page.locator(".thumbnail-item").nth(index).click())

    def file_block(self, label: str):
        """The upload component whose label starts with ``label``."""
        return self.page.locator("[data-testid=block-label]", has_text=label).locator(
            "xpath=ancestor::div[contains(@class, 'block')][1]")

    def upload(self, trio: dict[str, Path]) -> tuple[float, float]:
        for label in UPLOAD_LABELS.values():   # the previous repetition's files, cleared before the clock starts
            block = self.file_block(label)
            if not block.locator("input[type=file]").count():
                block.get_by_role("button", name="Clear").click()
                block.locator("input[type=file]").wait_for(state="attached")

        def choose_and_run():
            for spectrum, label in UPLOAD_LABELS.items():
                self.file_block(label).locator("input[type=file]").set_input_files(str(trio[spectrum]))
            for spectrum, label in UPLOAD_LABELS.items():   # every file on the server before the run
                self.file_block(label).get_by_text(trio[spectrum].stem).first.wait_for(timeout=TIMEOUT_MS)
            self.page.get_by_role("button", name="Run on upload").click()
        return self.act(choose_and_run)

    def toggle_invert(self) -> float:
        before = self.depth_source()
        start = time.perf_counter()
        self.page.get_by_label("Invert colours (near = blue)").click()
        self.wait_for_new_depth(before)
        return time.perf_counter() - start


def report(name: str, seconds: list[float] | None, reason: str = "") -> None:
    if seconds is None:
        print(f"{name:<34}{'skipped':>10}  {reason}")
        return
    median = statistics.median(seconds)
    target = TARGETS_S.get(name.strip())
    verdict = "" if target is None else f"target <= {target:.1f} s: {'met' if median <= target else 'NOT met'}"
    print(f"{name:<34}{median:>10.3f}  {verdict}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"skipped: Chromium not installed at {CHROMIUM} (see packages.txt)")
        return
    from playwright.sync_api import sync_playwright

    from app import studio
    from app.__main__ import launch

    # Instrument before the studio is built: its events hold these functions.
    show_seconds: list[float] = []
    studio.show = timed_calls(studio.show, show_seconds)
    network_calls = 0
    infer = DepthModel.infer

    def counted_infer(self, *args, **kwargs):
        nonlocal network_calls
        network_calls += 1
        return infer(self, *args, **kwargs)
    DepthModel.infer = counted_infer

    trios = ms2_trios(args.ms2) if args.ms2.is_dir() else []
    demo = launch(args.model, block=False, server_name="127.0.0.1")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(demo.local_url)
            page.locator(".thumbnail-item").first.wait_for(timeout=TIMEOUT_MS)
            view = StudioPage(page)
            view.click_sample(0)   # warm-up: loads the model
            clicks = [view.click_sample(1 + repeat % 2) for repeat in range(args.repeats)]
            uploads = None
            if trios:
                page.get_by_text("Upload your own RGB / NIR / thermal images").click()
                view.file_block(UPLOAD_LABELS["thr"]).locator("input[type=file]").wait_for(state="attached")
                uploads = [view.upload(trios[repeat % len(trios)]) for repeat in range(args.repeats)]
            show_seconds.clear()
            network_before = network_calls
            invert_browser = [view.toggle_invert() for _ in range(args.repeats)]
            invert_server = list(show_seconds)
            invert_network = network_calls - network_before
            browser.close()
    finally:
        demo.close()
        DepthModel.infer = infer

    print(f"the studio in Chromium {VIEWPORT['width']} x {VIEWPORT['height']}, model {args.model}, "
          f"median of {args.repeats} after one warm-up click")
    print(f"{'measurement':<34}{'seconds':>10}")
    report("gallery click -> depth", [depth for depth, _ in clicks])
    report("  depth -> point cloud", [cloud for _, cloud in clicks])
    reason = f"no MS2 trio in {args.ms2}" if not trios else ""
    report("MS2 upload -> depth", uploads and [depth for depth, _ in uploads], reason)
    report("  depth -> point cloud", uploads and [cloud for _, cloud in uploads], reason)
    report("invert, server time", invert_server)
    report("invert, click -> redrawn depth", invert_browser)
    print(f"network runs for {args.repeats} invert toggles: {invert_network} (expected 0)")


if __name__ == "__main__":
    main()
