"""The Streamlit workbench served by `streamlit run` and seen in Debian's Chromium: every page
renders its content; a screenshot of each goes to $SPECTRADEPTH_SCREENSHOTS (the README's
come from `make screenshots`), otherwise to the test's temporary folder."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# URL path of each page (st.navigation names them after their files) and what shows it is done.
PAGES = {"explore": ("", '[data-testid="stImage"]'), "compare": ("compare", '[data-testid="stImage"]'),
         "attention": ("attention", '[data-testid="stImage"]'),
         "point_cloud": ("point_cloud", ".js-plotly-plot"), "results": ("results", '[data-testid="stCode"]')}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def workbench_url():
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless=true",
                               f"--server.port={port}", "--browser.gatherUsageStats=false"],
                              cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "_stcore/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("streamlit did not start")
    yield url
    server.terminate()
    server.wait(timeout=30)


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
