"""The dashboard end to end in a real browser: Playwright driving Debian's chromium against `ladder serve`
(an index built with the bundled MiniLM, answers by SmolLM2). Load, search, ask, open a run, compare rows;
the screenshot is kept in build/test-artifacts/ and bench/results/screenshots/."""
import shutil
from pathlib import Path

import pytest

from tests.server.conftest import PASSAGES
from tests.server.test_openai_client import start

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture
def dashboard(tmp_path, runs_dir):
    from ladder.models.bundled import is_installed
    from ladder.retrieval.index import build_index

    if not is_installed("smollm2-135m"):
        pytest.skip("smollm2-135m is not installed")
    idx = tmp_path / "idx"
    build_index([{"id": d, "title": t, "text": x} for d, t, x in PASSAGES], idx)
    proc, url = start(["--index", str(idx), "--runs", str(runs_dir), "--ask-model", "smollm2-135m"])
    yield url
    proc.terminate()
    proc.wait(10)


def test_dashboard_search_ask_and_runs_in_chromium(dashboard):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("no /usr/bin/chromium (apt-get install -y chromium; .ci/run does)")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(dashboard)
        page.wait_for_selector("#runs tbody tr")
        assert "sentiment" in page.inner_text("#runs tbody")

        page.fill("#query", "who painted the ceiling of the Sistine Chapel")
        page.click("#search-btn")
        page.wait_for_selector("#results li")
        assert "Sistine Chapel" in page.inner_text("#results li:first-child")

        page.click("#ask-btn")
        page.wait_for_selector("#answer:not([hidden])", timeout=120_000)
        assert page.inner_text("#answer").strip()

        page.click("#runs tbody tr:first-child")
        page.wait_for_selector("#run:not([hidden])")
        assert page.locator("#leaderboard tbody tr").count() == 2
        assert page.locator("#plot-quality svg").count() == 1
        page.click("#diff-form button")
        page.wait_for_selector("#diff tbody tr")
        assert page.inner_text("#diff-status") == "1 of 4 examples differ"
        assert "An absolute joy" in page.inner_text("#diff tbody")

        out = ROOT / "build" / "test-artifacts" / "dashboard.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    kept = ROOT / "bench" / "results" / "screenshots" / "dashboard.png"
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out, kept)
    assert out.stat().st_size > 10_000 and not errors
