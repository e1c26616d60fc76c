"""The Sequence tab in a real browser (Debian's Chromium through Playwright): Play shows the first
frame while the run goes on, the frames change, and the 3-D map appears. (The test's untrained model
gives nearly the same depth every frame, so the inputs show the change.)"""
import pytest

from app.__main__ import launch

pytestmark = pytest.mark.slow   # a served studio in a browser
FRAMES = 20
# Every first input image the page shows, collected as it changes: a run of cached frames may end
# before the test could read the first one.
COLLECT_SHOWN_INPUTS = """() => {
  window.shownInputs = new Set();
  new MutationObserver(() => {
    const image = document.querySelector('#sequence-inputs img');
    if (image) window.shownInputs.add(image.getAttribute('src'));
  }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


@pytest.fixture(scope="module")
def studio_url(tiny_checkpoint):
    demo = launch(tiny_checkpoint, block=False, server_name="127.0.0.1")
    yield demo.local_url
    demo.close()


def test_play_shows_frames_changing_and_the_map_appears(studio_url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(studio_url)
    page.get_by_role("tab", name="Sequence").click()
    page.locator("#sequence-play").wait_for(timeout=30000)
    count = page.locator("#sequence-count input[type=number]")
    count.fill(str(FRAMES))
    count.press("Enter")
    page.evaluate(COLLECT_SHOWN_INPUTS)
    page.locator("#sequence-play").click()
    page.locator("#sequence-depth img").wait_for(timeout=120000)
    page.get_by_text(f"{FRAMES} frames done").wait_for(timeout=300000)
    assert page.evaluate("() => window.shownInputs.size") >= 2   # a later frame replaced the first
    assert "frames/s" not in page.locator("#sequence-status").inner_text()
    page.locator("#sequence-map-button").click()
    page.locator("#sequence-map .js-plotly-plot").wait_for(timeout=120000)
    page.close()
