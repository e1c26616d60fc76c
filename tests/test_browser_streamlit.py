"""The Streamlit workbench served by `streamlit run` and seen in Debian's Chromium: every page
renders its content; a screenshot of each goes to $SPECTRADEPTH_SCREENSHOTS (the README's
come from `make screenshots`), otherwise to the test's temporary folder."""
import os
from pathlib import Path

import pytest

from bench.servers import streamlit_workbench

# URL path of each page (st.navigation names them after their files) and what shows it is done.
PAGES = {"explore": ("", '[data-testid="stImage"]'), "compare": ("compare", '[data-testid="stImage"]'),
         "attention": ("attention", '[data-testid="stImage"]'),
         "point_cloud": ("point_cloud", ".js-plotly-plot"), "results": ("results", '[data-testid="stCode"]')}


@pytest.fixture(scope="module")
def workbench_url():
    with streamlit_workbench() as url:
        yield url


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_in_chromium(workbench_url, browser, tmp_path, name):
    out = Path(os.environ.get("SPECTRADEPTH_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    path, ready = PAGES[name]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(workbench_url + path)
    page.locator(ready).first.wait_for(timeout=300_000)
    # Streamlit shows its status widget while the script runs; the page is complete without it.
    page.wait_for_function("!document.querySelector('[data-testid=stStatusWidget]')", timeout=300_000)
    assert not page.locator('[data-testid="stException"]').count()
    page.screenshot(path=str(out / f"streamlit-{name}.png"), full_page=True)
    assert (out / f"streamlit-{name}.png").stat().st_size > 50_000
    page.close()
