"""The studio as a user sees it in Chromium: seconds from an action to its result on screen.

    python -m bench.bench_browser [--model CHECKPOINT] [--repeats 5] [--streamlit]

Measured side by side in one run against issue 16's targets, the median of --repeats (after one
warm-up click that loads the model, as the first visitor would):

- a click on a gallery sample -> the first depth image on screen;
- an upload of a real MS2 trio (RGB, NIR, 16-bit thermal from ../shared/samples/ms2; skipped,
  with the reason, where absent), from choosing the files -> the first depth image on screen;
- the point cloud on screen, counted from the depth on screen, after each of those;
- a display-only control (invert): the server's time in the studio's display step, the
  browser's time to the redrawn depth, and how many times the depth network ran (0 expected);
- the largest accepted upload (LARGEST_UPLOAD: RGB 6400 x 2000 8-bit + thermal 6000 x 2400 16-bit
  raw, generated into a temporary folder), from choosing the files -> the first depth on screen,
  and the server's memory growth per render: the peak resident set size (RSS, sampled every 10 ms)
  during the render above the RSS just before it (and, for information, what is still held after);
- with --streamlit (left out by default: it takes minutes, the Compare page alone about a minute a
  visit): `streamlit run streamlit_app.py` headless on a free port, each page opened once so its
  model is cached, then, --repeats times round all five, each page loaded afresh (a new session,
  the server's caches warm) until it is interactive: STREAMLIT_PAGES names the element that shows
  it (the page's first depth image, map or chart) and Streamlit's "running" status must be gone.

The studio runs in this process (``app.__main__.launch``) so the display step can be timed and
the network counted; Chromium (Debian's, 1400 x 900) is driven by Playwright. Samples and trios
alternate between repetitions so that every action changes what is shown.
"""
from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.servers import CHROMIUM, CHROMIUM_ARGS, PeakRSS, streamlit_workbench
from core import inference
from core.data.imageio import write_png
from core.data.samples import SHARED_MS2
from core.models import DepthModel

VIEWPORT = {"width": 1400, "height": 900}
TIMEOUT_MS = 120_000
TARGETS_S = {"gallery click -> depth": 1.5, "MS2 upload -> depth": 2.5, "depth -> point cloud": 3.0,
             "invert, server time": 0.3, "largest upload -> depth": 5.0,
             **{f"streamlit {title}": 3.0 if title == "Results" else 10.0 for title in
                ("Explore", "Compare", "Attention", "Point cloud", "Results")}}
TARGETS_MB = {"largest upload, peak RSS growth": 500.0}
# (height, width) of the largest upload the studio accepts, per spectrum (issue 16).
LARGEST_UPLOAD = {"rgb": (2000, 6400), "thr": (2400, 6000)}
# Each Streamlit page: (URL path, as st.navigation names it; the element that shows it interactive).
# Explore, Compare and Attention: their first image (depth, or the attention map); Point cloud:
# its plotly figure; Results: its first chart (the recorded figures, read from bench/results.json).
STREAMLIT_PAGES = {"Explore": ("", '[data-testid="stImage"] img'),
                   "Compare": ("compare", '[data-testid="stImage"] img'),
                   "Attention": ("attention", '[data-testid="stImage"] img'),
                   "Point cloud": ("point_cloud", ".js-plotly-plot"),
                   "Results": ("results", ".js-plotly-plot")}
STREAMLIT_RUNNING = "[data-testid=stStatusWidget]"
DEPTH_IMAGE = "#depth-view img"
UPLOAD_LABELS = {"rgb": "RGB (8-bit", "nir": "NIR (8-bit", "thr": "Thermal (16-bit"}
CLOUD = "#point-cloud .js-plotly-plot"
# Set on the point cloud on screen before an action, so the next one is told from it.
STALE = "data-bench-stale"
SPECTRUM_NAMES = {"rgb": "RGB", "nir": "NIR", "thr": "thermal"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=inference.DEFAULT_CHECKPOINT, help="checkpoint the studio starts with")
    parser.add_argument("--repeats", type=int, default=5,
                        help="repetitions per measurement (median); 1-2 for a quick run")
    parser.add_argument("--ms2", type=Path, default=SHARED_MS2,
                        help="folder of real MS2 trios (<id>_{rgb,nir,thr}.png)")
    parser.add_argument("--streamlit", action=argparse.BooleanOptionalAction, default=False,
                        help="also time the Streamlit workbench's pages (minutes)")
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


def upload_images(seed: int, sizes: dict[str, tuple[int, int]] = LARGEST_UPLOAD) -> dict[str, np.ndarray]:
    """Synthetic raw images of the given (height, width) per spectrum: RGB uint8 (H, W, 3), thermal
    uint16 (H, W) raw counts 3000-6000; smooth blobs from a coarse random grid, so PNG stays small
    enough to upload (a different ``seed`` shows something different)."""
    rng = np.random.default_rng(seed)
    images = {}
    for spectrum, (height, width) in sizes.items():
        coarse = rng.random((9, 21, 3 if spectrum == "rgb" else 1))
        rows = np.linspace(0, coarse.shape[0] - 1, height)
        cols = np.linspace(0, coarse.shape[1] - 1, width)
        r0, c0 = rows.astype(int).clip(max=coarse.shape[0] - 2), cols.astype(int).clip(max=coarse.shape[1] - 2)
        fr, fc = (rows - r0)[:, None, None], (cols - c0)[None, :, None]
        smooth = ((1 - fr) * (1 - fc) * coarse[r0][:, c0] + (1 - fr) * fc * coarse[r0][:, c0 + 1]
                  + fr * (1 - fc) * coarse[r0 + 1][:, c0] + fr * fc * coarse[r0 + 1][:, c0 + 1])
        if spectrum == "rgb":
            images[spectrum] = (smooth * 255).round().astype(np.uint8)
        else:
            images[spectrum] = (3000 + smooth[..., 0] * 3000).round().astype(np.uint16)
    return images


def write_upload(folder: Path, seed: int) -> dict[str, Path]:
    """The largest upload written as PNG files in ``folder``, one per spectrum."""
    paths = {}
    for spectrum, image in upload_images(seed).items():
        paths[spectrum] = folder / f"largest{seed}_{spectrum}.png"
        write_png(paths[spectrum], image)
    return paths


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
        """Chooses the files of ``trio`` (any of rgb, nir, thr) and runs on them."""
        for label in UPLOAD_LABELS.values():   # the previous repetition's files, cleared before the clock starts
            block = self.file_block(label)
            if not block.locator("input[type=file]").count():
                block.get_by_role("button", name="Clear").click()
                block.locator("input[type=file]").wait_for(state="attached")

        chosen = {spectrum: label for spectrum, label in UPLOAD_LABELS.items() if spectrum in trio}

        def choose_and_run():
            for spectrum, label in chosen.items():
                self.file_block(label).locator("input[type=file]").set_input_files(str(trio[spectrum]))
            for spectrum, label in chosen.items():   # every file on the server before the run
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


def report_mb(name: str, megabytes: list[float]) -> None:
    median = statistics.median(megabytes)
    target = TARGETS_MB.get(name.strip())
    verdict = "" if target is None else f"target <= +{target:.0f} MB: {'met' if median <= target else 'NOT met'}"
    print(f"{name:<34}{median:>+10.0f}  {verdict}")


def time_streamlit(browser, repeats: int) -> dict[str, list[float]]:
    """Seconds from loading each Streamlit page afresh to it being interactive, ``repeats`` times
    each, after one visit per page that fills the model caches."""
    with streamlit_workbench(start_timeout_s=120) as url:
        page = browser.new_page(viewport=VIEWPORT)

        def visit(path: str, ready: str, timeout_ms: int) -> float:
            start = time.perf_counter()
            page.goto(url + path)
            page.locator(ready).first.wait_for(state="visible", timeout=timeout_ms)
            page.wait_for_function(f"!document.querySelector('{STREAMLIT_RUNNING}')", timeout=timeout_ms)
            seconds = time.perf_counter() - start
            if page.locator('[data-testid="stException"]').count():
                raise RuntimeError(f"the {path or 'explore'} page shows an exception")
            return seconds

        for path, ready in STREAMLIT_PAGES.values():   # warm-up: each page's model and data cached
            visit(path, ready, 300_000)
        timings = {title: [] for title in STREAMLIT_PAGES}
        for _ in range(repeats):
            for title, (path, ready) in STREAMLIT_PAGES.items():
                timings[title].append(visit(path, ready, TIMEOUT_MS))
        page.close()
        return timings


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
    scratch = tempfile.TemporaryDirectory(prefix="bench-browser-")
    largest = [write_upload(Path(scratch.name), seed) for seed in (0, 1)]
    streamlit = None
    started = time.perf_counter()
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
            page.get_by_text("Upload your own RGB / NIR / thermal images").click()
            view.file_block(UPLOAD_LABELS["thr"]).locator("input[type=file]").wait_for(state="attached")
            if trios:
                uploads = [view.upload(trios[repeat % len(trios)]) for repeat in range(args.repeats)]
            big_depth, big_peak, big_held = [], [], []
            for repeat in range(args.repeats):
                with PeakRSS() as memory:
                    big_depth.append(view.upload(largest[repeat % 2])[0])
                big_peak.append((memory.peak - memory.before) / 2**20)
                big_held.append((memory.after - memory.before) / 2**20)
            show_seconds.clear()
            network_before = network_calls
            invert_browser = [view.toggle_invert() for _ in range(args.repeats)]
            invert_server = list(show_seconds)
            invert_network = network_calls - network_before
            demo.close()
            studio_seconds = time.perf_counter() - started
            if args.streamlit:
                streamlit_started = time.perf_counter()
                streamlit = time_streamlit(browser, args.repeats)
                streamlit_seconds = time.perf_counter() - streamlit_started
            browser.close()
    finally:
        demo.close()
        DepthModel.infer = infer
        scratch.cleanup()

    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "n/a"
    print(f"the studio in Chromium {VIEWPORT['width']} x {VIEWPORT['height']}, model {args.model}, "
          f"median of {args.repeats} after one warm-up click; load average at the end {load}")
    print(f"{'measurement':<34}{'seconds':>10}")
    report("gallery click -> depth", [depth for depth, _ in clicks])
    report("  depth -> point cloud", [cloud for _, cloud in clicks])
    reason = f"no MS2 trio in {args.ms2}" if not trios else ""
    report("MS2 upload -> depth", uploads and [depth for depth, _ in uploads], reason)
    report("  depth -> point cloud", uploads and [cloud for _, cloud in uploads], reason)
    report("invert, server time", invert_server)
    report("invert, click -> redrawn depth", invert_browser)
    print(f"network runs for {args.repeats} invert toggles: {invert_network} (expected 0)")
    sizes = " + ".join(f"{SPECTRUM_NAMES[s]} {w} x {h}" for s, (h, w) in LARGEST_UPLOAD.items())
    print(f"largest upload: {sizes}")
    report("largest upload -> depth", big_depth)
    report_mb("largest upload, peak RSS growth", big_peak)
    report_mb("  RSS still held after", big_held)
    print(f"studio measurements took {studio_seconds:.0f} s")
    if streamlit is None:
        print("streamlit pages: not timed (--streamlit times them)")
        return
    print("streamlit pages, loaded afresh with their models cached -> interactive:")
    for title, seconds in streamlit.items():
        report(f"streamlit {title}", seconds)
    print(f"streamlit measurements took {streamlit_seconds:.0f} s")


if __name__ == "__main__":
    main()
