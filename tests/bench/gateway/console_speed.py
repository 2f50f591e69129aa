#!/usr/bin/python3
"""The console's speed in headless Chromium (issue #12; docs/benchmarks.md
"Gateway"): first contentful paint of the console (Chromium's performance
timing, `first-contentful-paint`) over several fresh loads, and the time a
grid of 200 thumbnails takes to load: cold (the gateway decodes and resizes
every image), warm (the gateway's thumbnail cache holds them; the browser's
cache is bypassed with a distinct `_` parameter per run) and warm in both.
Starts its own stack on loopback (tests/integration/gateway/gateway_stack.py)
with a short training job and --items Fashion-MNIST test images.

Usage: console_speed.py BUILD_DIR SOURCE_DIR [--items=N] [--loads=N]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("source")
ap.add_argument("--items", type=int, default=1000)
ap.add_argument("--loads", type=int, default=7)
ap.add_argument("--grid", type=int, default=200)
args = ap.parse_args()
sys.path.insert(0, os.path.join(args.source, "tests/integration/gateway"))
sys.path.insert(0, os.path.join(args.source, "tests/e2e/gateway"))
import gateway_stack as gs  # noqa: E402
from console_test import browser  # noqa: E402

GRID_JS = """
const [uris, tag, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const box = document.createElement('div');
document.body.append(box);
const t0 = performance.now();
let left = uris.length, failed = 0;
for (const u of uris) {
  const img = new Image(72, 72);
  img.onload = img.onerror = (e) => {
    if (e.type === 'error') failed++;
    if (--left === 0) done([performance.now() - t0, failed]);
  };
  img.src = `/v1/thumbnails?uri=${encodeURIComponent(u)}&size=72` + (tag ? `&_=${tag}` : '');
  box.append(img);
}
"""


def main():
    tmp = tempfile.mkdtemp(prefix="gateway-speed-")
    stack = gs.Stack(os.path.join(args.build, "bin"), tmp,
                     gateway_flags=[f"--image_roots={gs.FASHION}"])
    driver = None
    try:
        c = stack.client()
        job = c.post("/v1/jobs", gs.train_config("fm"))["jobId"]
        gs.wait_job(c, job)
        gs.wait_model(c, "fm")
        gs.ingest(c, "fashion", "fm", gs.fashion_test_images(args.items))
        url = f"http://{stack.addr['gateway']}/"
        driver = browser()
        fcps = []
        for i in range(args.loads):
            driver.get("about:blank")
            driver.delete_all_cookies()
            driver.execute_cdp_cmd("Network.clearBrowserCache", {})
            driver.get(url + "#/search")
            fcps.append(driver.execute_script(
                "const e = performance.getEntriesByName('first-contentful-paint')[0];"
                "return e ? e.startTime : null;"))
        print(f"first contentful paint over {args.loads} fresh loads (browser cache cleared): "
              f"median {statistics.median(fcps):.0f} ms, max {max(fcps):.0f} ms "
              f"({', '.join(f'{x:.0f}' for x in fcps)})")
        uris = [it["uri"] for it in
                c.get(f"/v1/collections/fashion/items?page_size={args.grid}")["items"]]
        driver.set_script_timeout(60)
        for label, tag in (("cold (gateway cache empty)", "cold"),
                           ("warm gateway cache, browser cache bypassed", "warm1"),
                           ("warm gateway cache, browser cache bypassed", "warm2"),
                           ("warm in both (same URLs again)", "warm2")):
            ms, failed = driver.execute_async_script(GRID_JS, uris, tag)
            print(f"{len(uris)}-thumbnail grid, {label}: {ms:.0f} ms ({failed} failed)")
        stats = c.get("/v1/openapi.json") and None  # keep the connection warm
        del stats
    finally:
        if driver:
            driver.quit()
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
