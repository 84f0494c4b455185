"""The page in a real browser: headless Chromium (Debian's package) driven by Playwright against uvicorn."""

from __future__ import annotations

import base64
import io
import shutil

import numpy as np
import pytest
from PIL import Image

from hwr_eval.data import read_drawn

from .conftest import character_png, needs_serve_extra
from .test_server import post_png

needs_serve_extra()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium found (install Debian's package: apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses to start its sandbox as root (CI runs as root).
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    url, collect = live_server
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    page.base_url, page.collect_dir, page.requests = url, collect, requests
    yield page
    context.close()


def draw(page, strokes) -> None:
    """Draw ``strokes`` (lists of points in 0..1 of the canvas) with the mouse."""
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=8)
        page.mouse.up()


def wait_answered(page, previous: str | None = None) -> str:
    """Wait for the page to show a (new) answer; returns its number."""
    page.wait_for_function("(prev) => document.body.dataset.answered && document.body.dataset.answered !== prev",
                           arg=previous or "")
    return page.evaluate("document.body.dataset.answered")


def shown(page) -> dict:
    """What the page shows per model: the top classes with probabilities, the answer and the verdict."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.model')].map(c => [c.dataset.name, {
        top: [...c.querySelectorAll('li')].map(li => [li.dataset.label, Number(li.dataset.probability)]),
        answer: c.querySelector('.answer').textContent, verdict: c.querySelector('.verdict').textContent,
        unknown: c.querySelector('.unknown').textContent}]))""")


def canvas_png(page) -> bytes:
    return base64.b64decode(page.evaluate("document.getElementById('pad').toDataURL('image/png')").split(",", 1)[1])


def image_of(data_url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))), dtype=np.uint8)


def assert_shows(page, api: dict) -> None:
    """The page shows exactly what the API answers for the same image."""
    seen = shown(page)
    assert list(seen) == [m["name"] for m in api["models"]]
    for answer in api["models"]:
        on_page = seen[answer["name"]]
        assert on_page["top"] == [[t["label"], pytest.approx(t["probability"], abs=1e-12)] for t in answer["top"]]
        assert on_page["answer"] == ("?" if answer["abstained"] else answer["label"])
        assert ("abstains" in on_page["verdict"]) is answer["abstained"]
        assert on_page["unknown"] == ""  # these models carry no unknown-input detector
    np.testing.assert_array_equal(image_of(page.get_attribute("#input-preview", "src")), image_of(api["input"]))


SEVEN = [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]]
BAR = [[(0.3, 0.52), (0.6, 0.52)]]


def test_drawing_shows_every_models_answer_and_undo_clear(page):
    draw(page, SEVEN)
    first = wait_answered(page)
    status, api = post_png(page.base_url, canvas_png(page))
    assert status == 200
    assert_shows(page, api)
    assert all(len(top) == 3 for top in (m["top"] for m in shown(page).values()))

    draw(page, BAR)  # a crossed seven: the answers follow the new stroke
    second = wait_answered(page, first)
    assert_shows(page, post_png(page.base_url, canvas_png(page))[1])

    page.click("#undo")
    wait_answered(page, second)
    assert_shows(page, api)  # back to the plain seven: the same image, the same answers

    page.click("#clear")
    page.wait_for_function("document.body.dataset.answered === ''")
    assert all(m["top"] == [] and m["answer"] == "\u2013" for m in shown(page).values())
    # Self-contained: the page, its one API call for the models and the predictions, nothing else.
    assert {r.split("/", 3)[3] for r in page.requests} == {"", "api/models", "api/predict"}


def test_upload_and_context(page, small_synthetic, tmp_path):
    png = character_png(small_synthetic.X_test[5])
    path = tmp_path / "scan.png"
    path.write_bytes(png)
    page.set_input_files("#file", str(path))
    answered = wait_answered(page)
    assert_shows(page, post_png(page.base_url, png)[1])
    # The upload is shown on the pad (dark ink on its white paper).
    page.wait_for_function("""() => { const c = document.getElementById('pad');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) if (d[i] < 100) return true; return false; }""")

    for context in ("digits", "letters"):
        page.check(f"input[name=context][value={context}]")
        answered = wait_answered(page, answered)
        api = post_png(page.base_url, png, context=context)[1]
        assert_shows(page, api)
        labels = [label for m in shown(page).values() for label, _ in m["top"]]
        assert labels and all(label.isdigit() == (context == "digits") for label in labels)


def test_confirming_a_label_saves_the_drawing(page):
    draw(page, SEVEN)
    wait_answered(page)
    seen_input = image_of(page.get_attribute("#input-preview", "src"))
    page.fill("#label", "7")  # confirm or correct whatever the models said
    page.click("#save")
    page.wait_for_function("document.getElementById('status').dataset.saved")
    saved = page.evaluate("document.getElementById('status').dataset.saved")
    assert saved.startswith("7/") and (page.collect_dir / saved).is_file()
    X, y = read_drawn(page.collect_dir)
    assert y.tolist() == ["7"]
    np.testing.assert_array_equal(X[0].reshape(28, 28), seen_input)  # the drawing as the models saw it
    page.wait_for_function("document.body.dataset.answered === ''")  # the pad is cleared for the next one

    page.fill("#label", "#")
    draw(page, SEVEN)
    wait_answered(page)
    page.fill("#label", "#")
    page.click("#save")
    page.wait_for_function("document.getElementById('error').textContent.includes('not a class')")
    assert read_drawn(page.collect_dir)[1].tolist() == ["7"]
