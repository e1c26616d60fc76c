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


def _upload_block(page, label: str):
    """The file input of the upload block whose label starts with ``label``."""
    block = page.locator("[data-testid=block-label]", has_text=label).locator(
        "xpath=ancestor::div[contains(@class, 'block')][1]")
    return block


def test_a_refused_trio_fixed_and_run_again_shows_depth(studio_url, browser, tmp_path):
    """The visitor's path after a refusal: the RGB file stays chosen, the wrong thermal file is
    replaced, Run again gives depth (the refusal deleted none of the files the page still holds)."""
    import numpy as np
    from PIL import Image

    from core.data.imageio import write_png
    rng = np.random.default_rng(0)
    rgb, thermal8, thermal16 = tmp_path / "street.png", tmp_path / "thermal8.png", tmp_path / "thermal16.png"
    Image.fromarray(rng.integers(0, 255, (384, 1224, 3)).astype(np.uint8)).save(rgb)
    Image.fromarray(rng.integers(0, 255, (256, 640)).astype(np.uint8)).save(thermal8)
    write_png(thermal16, rng.integers(3000, 6000, (256, 640)).astype(np.uint16))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(studio_url)
    page.get_by_text("Upload your own RGB / NIR / thermal images").click()
    rgb_block, thermal_block = _upload_block(page, "RGB (8-bit"), _upload_block(page, "Thermal (16-bit")
    rgb_block.locator("input[type=file]").set_input_files(str(rgb))
    thermal_block.locator("input[type=file]").set_input_files(str(thermal8))
    for block, name in ((rgb_block, "street"), (thermal_block, "thermal8")):
        block.get_by_text(name).first.wait_for(timeout=60000)
    page.get_by_role("button", name="Run on upload").click()
    page.get_by_text("must be the 16-bit raw file").first.wait_for(timeout=60000)
    thermal_block.get_by_role("button", name="Clear").click()
    thermal_block.locator("input[type=file]").set_input_files(str(thermal16))
    thermal_block.get_by_text("thermal16").first.wait_for(timeout=60000)
    page.get_by_role("button", name="Run on upload").click()
    page.locator("#depth-fused img").wait_for(timeout=120000)
    assert "upload" in page.locator("#status").inner_text()
    assert page.get_by_text("does not exist").count() == 0
    page.close()


def test_the_model_choice_is_the_registry_labelled_with_the_default_first(studio_url, browser):
    from core import inference
    from core.models import registry
    shipped = [label for label, name in inference.model_choices() if name in {m.name for m in registry.depth_models()}]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(studio_url)
    page.get_by_label("Checkpoint").first.click()
    options = page.locator("[data-testid=dropdown-option]")
    options.first.wait_for(timeout=30000)
    offered = [option.get_attribute("aria-label") for option in options.all()]
    assert len(shipped) <= 10 and offered[:len(shipped)] == shipped, offered
    assert offered[0].startswith("Default · ") and all(" · " in label for label in offered[:len(shipped)])
    page.close()
