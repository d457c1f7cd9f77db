"""The web app: the built bundle's size (gzip), the time from clicking "Start" to the first
tile showing progress, and what opening a finished series of 10 and the gallery costs (bytes over
the wire, cold cache, and the time until every thumbnail is shown), in Debian's chromium against
the local stack (embedded PostgreSQL, the stand-ins, a real `imagen worker` process on the tiny
model at 1024², 4 steps)."""

from __future__ import annotations

import gzip
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.common import bench_database, parser, print_table, write_results
from imagen.dev.supabase_standin import SupabaseStandIn
from imagen.dev.tiny_models import tiny_path
from imagen.dev.web_stack import StaticSite, build_web, supabase_worker_env, web_config, worker_process

FIRST_PROGRESS = """() => [...document.querySelectorAll('[role=progressbar]')]
  .some(bar => Number(bar.getAttribute('aria-valuenow')) >= 1)"""


def bundle_sizes(dist: Path) -> list[dict]:
    rows = []
    for kind in ("js", "css"):
        files = sorted((dist / "assets").glob(f"*.{kind}"))
        raw = sum(f.stat().st_size for f in files)
        packed = sum(len(gzip.compress(f.read_bytes(), 9)) for f in files)
        rows.append({"asset": kind, "files": len(files), "bytes": raw, "gzip_bytes": packed})
    return rows


ALL_PICTURES_SHOWN = """n => [...Array(n).keys()].every(i => {
  const img = document.querySelector(`[data-testid=picture-${i + 1}]`);
  return img && img.complete && img.naturalWidth > 0 && img.offsetParent !== null; })"""
GALLERY_SHOWN = """n => { const imgs = [...document.querySelectorAll('[data-testid=series-card] img')];
  return imgs.length >= n && imgs.every(img => img.complete && img.naturalWidth > 0); }"""


def cold_load(browser, state: dict, url: str, shown: str, arg: int) -> dict:
    """Opens `url` in a new context (empty cache, the signed-in session): bytes received (as on
    the wire: Network.loadingFinished's encodedDataLength), pictures' share, seconds until shown."""
    context = browser.new_context(storage_state=state, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    kinds: dict[str, str] = {}
    received = {"all": 0, "pictures": 0}
    cdp.on("Network.responseReceived", lambda e: kinds.__setitem__(e["requestId"], e["response"]["mimeType"]))

    def finished(event: dict) -> None:
        received["all"] += event["encodedDataLength"]
        if kinds.get(event["requestId"], "").startswith("image/"):
            received["pictures"] += event["encodedDataLength"]

    cdp.on("Network.loadingFinished", finished)
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_function(shown, arg=arg, polling="raf")
    seconds = time.perf_counter() - started
    page.wait_for_load_state("networkidle")
    context.close()
    return {"bytes": received["all"], "picture_bytes": received["pictures"], "seconds_to_all_shown": seconds}


def page_weights(browser, page, site_url: str, tries: int) -> list[dict]:
    """A finished series of `tries`, then the gallery, each opened cold."""
    page.get_by_test_id("nav-new").click()
    page.get_by_label("Prompt").fill("a lighthouse, many takes")
    page.get_by_label("Tries").fill(str(tries))
    page.get_by_label("Steps").fill("1")
    page.get_by_test_id("create-series").click()
    page.wait_for_url("**/#/series/*")
    for i in range(1, tries + 1):
        page.get_by_test_id(f"tile-{i}").and_(page.locator("[data-status=done]")).wait_for()
    state = page.context.storage_state()
    series = cold_load(browser, state, page.url, ALL_PICTURES_SHOWN, tries)
    gallery = cold_load(browser, state, f"{site_url}/#/", GALLERY_SHOWN, 1)
    return [{"page": f"series of {tries}", **series}, {"page": "gallery", **gallery}]


def in_chromium(site_url: str, samples: int, tries: int) -> tuple[list[float], list[dict]]:
    seconds = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])  # fmt: skip
        page = browser.new_page()
        page.set_default_timeout(120_000)
        page.goto(site_url)
        page.get_by_label("Email").fill("bench@example.com")
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_test_id("sign-up").click()
        page.get_by_test_id("signed-in-as").wait_for()
        for n in range(samples):
            page.get_by_test_id("nav-new").click()
            page.get_by_label("Prompt").fill(f"a lighthouse, take {n}")
            page.get_by_label("Tries").fill("1")
            page.get_by_label("Steps").fill("4")
            started = time.perf_counter()
            page.get_by_test_id("create-series").click()
            page.wait_for_function(FIRST_PROGRESS, polling="raf")
            seconds.append(time.perf_counter() - started)
            page.get_by_test_id("tile-1").and_(page.locator("[data-status=done]")).wait_for()
        weights = page_weights(browser, page, site_url, tries)
        browser.close()
    return seconds, weights


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    samples = 2 if args.smoke else 10
    with tempfile.TemporaryDirectory() as tmp:
        dist = build_web()
        sizes = bundle_sizes(dist)
        with bench_database() as (url, _user), SupabaseStandIn(url) as gateway:
            env = supabase_worker_env(gateway.url, gateway.keys.service_role, str(tiny_path("tiny")),
                                      poll_interval=2.0)  # fmt: skip
            with worker_process(env, Path(tmp) / "worker.log"), StaticSite(dist, web_config(gateway.url,
                                                                           gateway.keys.anon)) as site:  # fmt: skip
                seconds, weights = in_chromium(site.url, samples, tries=2 if args.smoke else 10)
    print_table("Web app bundle (vite build)", sizes)
    timing = {"samples": len(seconds), "p50_s": statistics.median(seconds), "min_s": min(seconds),
              "max_s": max(seconds)}  # fmt: skip
    print_table("Click on Start → first tile showing progress (chromium, local stack, tiny model)", [timing])
    print_table("Opening a page cold: bytes received, pictures' share, time until every thumbnail shows", weights)
    write_results("web_app", args, {"bundle": sizes, "click_to_first_progress": timing, "seconds": seconds,
                                    "page_weight": weights})  # fmt: skip


if __name__ == "__main__":
    main()
