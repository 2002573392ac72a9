"""First paint of a console page in the test browser (Debian's Chromium through Playwright).

Usage: python3 first_paint.py URL COOKIE_FILE [RUNS]
COOKIE_FILE holds `trainyard_session=<token>` (what `trainyard bench console` writes).
Each run opens a fresh browser context (empty cache: the page and its CSS/JS are fetched), then
loads the page a second time in the same context (assets from the cache). Prints the first
contentful paint (FCP) and the navigation timings, median and worst, in ms.
"""

import statistics
import sys
from urllib.parse import urlparse

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FCP = """() => new Promise(resolve => {
  const done = (fcp) => { const n = performance.getEntriesByType('navigation')[0];
    resolve([fcp, n.responseStart, n.responseEnd, n.domContentLoadedEventEnd,
             n.decodedBodySize, n.transferSize]); };
  new PerformanceObserver(list => {
    const e = list.getEntriesByName('first-contentful-paint')[0];
    if (e) done(e.startTime);
  }).observe({type: 'paint', buffered: true});
  setTimeout(() => done(-1), 5000);
})"""


def main():
    url, cookie_file = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    name, value = open(cookie_file).read().strip().split("=", 1)
    host = urlparse(url)
    cold, warm = [], []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for _ in range(runs):
            ctx = b.new_context(viewport={"width": 1280, "height": 900})
            ctx.add_cookies([{"name": name, "value": value, "domain": host.hostname,
                              "path": "/console", "httpOnly": True, "sameSite": "Strict"}])
            page = ctx.new_page()
            page.goto(url, wait_until="load")
            cold.append(page.evaluate(FCP))
            page.close()
            page = ctx.new_page()
            page.goto(url, wait_until="load")
            warm.append(page.evaluate(FCP))
            ctx.close()
        b.close()
    for label, xs in [("cold cache", cold), ("warm cache", warm)]:
        fcp = sorted(x[0] for x in xs)
        ttfb = sorted(x[1] for x in xs)
        dcl = sorted(x[3] for x in xs)
        print(f"first paint ({label}, {len(xs)} loads): FCP median {statistics.median(fcp):.0f} ms, "
              f"worst {fcp[-1]:.0f} ms; first byte median {statistics.median(ttfb):.0f} ms; "
              f"DOMContentLoaded median {statistics.median(dcl):.0f} ms; "
              f"HTML {xs[0][4]} bytes decoded, {xs[0][5]} transferred")
    if any(x[0] < 0 for x in cold + warm):
        sys.exit("no first-contentful-paint entry")


if __name__ == "__main__":
    main()
