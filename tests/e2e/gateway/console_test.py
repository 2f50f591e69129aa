#!/usr/bin/python3
"""The console in a real browser (issue #12): Debian's headless Chromium
driven by chromedriver through python3-selenium, against the real
trainer, encoder, search and gateway on loopback. It

  - loads the console and records its first contentful paint;
  - drops an indexed Fashion-MNIST image on the search page (a synthetic
    drop event carrying a File of the image's PNG bytes) and asserts three
    rows (L1, L2, cosine) of k thumbnails, each led by that image (or an
    identical duplicate) at distance <= 1e-5, with every thumbnail loaded;
  - clicks a hit and sees a new search by that item;
  - starts a short training job from the form and sees its loss curve gain
    points from the server-sent events;
  - opens the map and sees as many points as the sample size (UMAP);
  - opens browse and models, runs an eval and sees its table;
and saves a screenshot of each page (SCREENSHOT_DIR, default
<build>/gateway-screenshots).

Usage: console_test.py BUILD_DIR SOURCE_DIR [SCREENSHOT_DIR]. Exit 77
(skipped) without Fashion-MNIST.
"""
import base64
import os
import shutil
import sys
import tempfile
import time

SOURCE = sys.argv[2] if len(sys.argv) > 2 else "."
sys.path.insert(0, os.path.join(SOURCE, "tests/integration/gateway"))
import gateway_stack as gs  # noqa: E402

BUILD = sys.argv[1]
SHOTS = sys.argv[3] if len(sys.argv) > 3 else os.path.join(BUILD, "gateway-screenshots")
K = 8
N_ITEMS = 500
QUERY = 17
MAP_SIZE = 300


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait(driver, what, cond, timeout=60):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = cond(driver)
            if last:
                return last
        except Exception as e:  # noqa: BLE001 (stale elements while re-rendering)
            last = e
        time.sleep(0.05)
    driver.save_screenshot(os.path.join(SHOTS, "failure.png"))
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
              "--disable-dev-shm-usage"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def drop_image(driver, png, name):
    driver.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
        const file = new File([bytes], arguments[1], {type: 'image/png'});
        const dt = new DataTransfer();
        dt.items.add(file);
        const zone = document.getElementById('dropzone');
        for (const type of ['dragenter', 'dragover', 'drop']) {
          zone.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true,
                                                  cancelable: true}));
        }""", base64.b64encode(png).decode(), name)


def rows(driver):
    """[(metric, [(id, distance, thumbnail loaded)])] of the result rows."""
    return driver.execute_script("""
        return [...document.querySelectorAll('.result-row')].map(r => [r.dataset.metric,
          [...r.querySelectorAll('.hit')].map(h => [h.dataset.id, Number(h.dataset.distance),
             h.querySelector('img').complete && h.querySelector('img').naturalWidth > 0])]);""")


def check_search(driver, url, images):
    """Drops an indexed image, checks the three rows, clicks a hit."""
    from selenium.webdriver.common.by import By
    driver.get(url + "#/search")
    wait(driver, "the search page", lambda d: d.find_elements(By.ID, "dropzone"))
    fcp = driver.execute_script(
        "const e = performance.getEntriesByName('first-contentful-paint')[0];"
        "return e ? e.startTime : null;")
    log(f"first contentful paint: {fcp:.0f} ms")
    dupes = {f"test-{i}" for i, (p, _) in enumerate(images) if p == images[QUERY][0]}
    driver.find_element(By.ID, "k").clear()
    driver.find_element(By.ID, "k").send_keys(str(K))
    drop_image(driver, gs.png_bytes(28, 28, 1, images[QUERY][0]), f"test-{QUERY}.png")
    wait(driver, "the first search", lambda d: d.find_element(By.ID, "search-count")
         .get_attribute("data-count") == "1")
    got = wait(driver, "thumbnails loaded",
               lambda d: (lambda r: r if all(ok for _, hits in r for _, _, ok in hits)
                          else None)(rows(d)))
    assert [m for m, _ in got] == ["l1", "l2", "cosine"], got
    for metric, hits in got:
        assert len(hits) == K, (metric, hits)
        first_id, first_distance, _ = hits[0]
        assert first_id in dupes, (metric, hits[0], dupes)
        assert first_distance <= 1e-5, (metric, hits[0])
    log(f"drop: 3 rows of {K}, each led by test-{QUERY} at distance "
        f"{max(h[0][1] for _, h in got):.2g}")
    wait(driver, "the query preview", lambda d: d.execute_script(
        "const i = document.getElementById('query-preview'); return i && i.naturalWidth > 0;"))
    driver.save_screenshot(os.path.join(SHOTS, "search-drop.png"))
    # click a hit: a new search by that item
    target = got[1][1][2][0]
    driver.find_elements(By.CSS_SELECTOR, ".result-row[data-metric=l2] .hit")[2].click()
    wait(driver, "the search by the clicked hit", lambda d: (
        d.find_element(By.ID, "search-count").get_attribute("data-count") == "2" and
        d.find_element(By.ID, "search-count").get_attribute("data-query") == target))
    again = wait(driver, "new rows and thumbnails", lambda d: (lambda r: r if r and r[0][1] and
                 r[0][1][0][0] == target and all(ok for _, hits in r for _, _, ok in hits)
                 else None)(rows(d)))
    assert all(len(hits) == K for _, hits in again)
    driver.save_screenshot(os.path.join(SHOTS, "search-click.png"))
    log(f"click: searched by {target}")


def check_training(driver, url):
    """Starts a job from the form and sees the loss curve gain points."""
    from selenium.webdriver.common.by import By
    driver.get(url + "#/training")
    wait(driver, "the training form", lambda d: d.find_elements(By.ID, "train-form"))
    form = driver.find_element(By.ID, "train-form")
    for name, value in (("model", "e2e"), ("maxImages", "6000"), ("epochs", "3"),
                        ("budget", "60")):
        el = form.find_element(By.NAME, name)
        el.clear()
        el.send_keys(value)
    driver.find_element(By.ID, "start-training").click()
    points = lambda d: int(d.find_element(By.ID, "loss-chart").get_attribute("data-points") or 0)
    first = wait(driver, "loss points", lambda d: points(d) >= 2 and points(d))
    more = wait(driver, "the curve to grow", lambda d: points(d) > first + 2 and points(d),
                timeout=90)
    log(f"training: the loss curve grew from {first} to {more} points")
    wait(driver, "an epoch point", lambda d: int(
        d.find_element(By.ID, "precision-chart").get_attribute("data-points") or 0) > 0,
         timeout=90)
    driver.save_screenshot(os.path.join(SHOTS, "training.png"))


def check_map(driver, url):
    from selenium.webdriver.common.by import By
    driver.get(url + "#/map")
    wait(driver, "the map page", lambda d: d.find_elements(By.ID, "map-draw"))
    size = driver.find_element(By.ID, "map-size")
    size.clear()
    size.send_keys(str(MAP_SIZE))
    driver.find_element(By.ID, "map-draw").click()
    wait(driver, "the map's points", lambda d: d.find_element(By.ID, "map-svg")
         .get_attribute("data-points") == str(MAP_SIZE), timeout=90)
    circles = len(driver.find_elements(By.CSS_SELECTOR, "#map-svg circle"))
    assert circles == MAP_SIZE, circles
    log(f"map: {circles} points; {driver.find_element(By.ID, 'map-status').text}")
    driver.save_screenshot(os.path.join(SHOTS, "map.png"))


def check_browse_and_models(driver, url):
    from selenium.webdriver.common.by import By
    driver.get(url + "#/browse")
    wait(driver, "the grid", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid .tile")) == 60
         and d.execute_script("return [...document.querySelectorAll('#grid img')]"
                              ".every(i => i.complete && i.naturalWidth > 0)"))
    driver.save_screenshot(os.path.join(SHOTS, "browse.png"))
    driver.get(url + "#/models")
    wait(driver, "the models table", lambda d: d.find_elements(By.ID, "models-table"))
    q = driver.find_element(By.ID, "eval-queries")
    q.clear()
    q.send_keys("100")
    driver.find_element(By.ID, "eval-start").click()
    wait(driver, "the eval table", lambda d: len(d.find_elements(
        By.CSS_SELECTOR, "#eval-table tr")) >= 7, timeout=90)
    driver.save_screenshot(os.path.join(SHOTS, "models.png"))


def main():
    os.makedirs(SHOTS, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="gateway-e2e-")
    started = time.time()
    stack = gs.Stack(os.path.join(BUILD, "bin"), tmp,
                     gateway_flags=[f"--image_roots={gs.FASHION}"])
    driver = None
    try:
        c = stack.client()
        job = c.post("/v1/jobs", gs.train_config("fm"))["jobId"]
        assert gs.wait_job(c, job)["state"] == "JOB_STATE_SUCCEEDED"
        gs.wait_model(c, "fm")
        images = gs.fashion_test_images(N_ITEMS)
        gs.ingest(c, "fashion", "fm", images)
        log(f"stack up, model trained, {N_ITEMS} images ingested ({time.time() - started:.0f} s)")
        url = f"http://{stack.addr['gateway']}/"
        driver = browser()
        check_search(driver, url, images)
        check_training(driver, url)
        check_map(driver, url)
        check_browse_and_models(driver, url)
        log(f"screenshots in {SHOTS}; total {time.time() - started:.0f} s")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        return 0
    finally:
        if driver:
            driver.quit()
        stack.stop()
        if not os.environ.get("LS_KEEP_TMP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if not gs.have_fashion():
        print("skipped: no Fashion-MNIST at", gs.FASHION)
        sys.exit(77)
    try:
        import selenium  # noqa: F401
    except ImportError:
        print("skipped: python3-selenium is not installed (deploy/install-deps.sh installs it)")
        sys.exit(77)
    sys.exit(main())
