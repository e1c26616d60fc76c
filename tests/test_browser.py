"""The studio in a real browser: Debian's Chromium driven by Playwright (no browser download).

Screenshots go to $SPECTRADEPTH_SCREENSHOTS (the README's come from `make screenshots`),
otherwise to the test's temporary folder.
"""
import os
from pathlib import Path

import pytest

from app.__main__ import launch

@pytest.fixture(scope="module")
def studio_url(request):
    model = os.environ.get("SPECTRADEPTH_SCREENSHOT_MODEL") or request.getfixturevalue("tiny_checkpoint")
    demo = launch(model, block=False, server_name="127.0.0.1")
    yield demo.local_url
    demo.close()


def test_sample_shows_depth_and_point_cloud(studio_url, browser, tmp_path):
    out = Path(os.environ.get("SPECTRADEPTH_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(studio_url)
    page.get_by_text("night · scene 200002").first.wait_for(timeout=30000)
    page.locator(".thumbnail-item").nth(2).click()
    fused = page.locator("#depth-fused img")
    fused.wait_for(timeout=120000)
    page.locator("#point-cloud .js-plotly-plot").wait_for(timeout=120000)
    assert "Depth is metric, in metres" in page.locator("#status").inner_text()
    assert fused.evaluate("img => img.naturalWidth") == 1224
    page.screenshot(path=str(out / "studio.png"), full_page=True)
    assert (out / "studio.png").stat().st_size > 100_000
    page.close()
