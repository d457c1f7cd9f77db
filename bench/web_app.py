"""The web app: the built bundle's size (gzip), and the time from clicking "Start" to the first
tile showing progress, in Debian's chromium against the local stack (embedded PostgreSQL, the
stand-ins, a real `imagen worker` process on the tiny model at 1024², 4 steps)."""

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


def click_to_first_progress(site_url: str, samples: int) -> list[float]:
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
        browser.close()
    return seconds


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    samples = 2 if args.smoke else 10
    with tempfile.TemporaryDirectory() as tmp:
        dist = build_web()
        sizes = bundle_sizes(dist)
        with bench_database() as (url, _user), SupabaseStandIn(url) as gateway:
            env = supabase_worker_env(gateway.url, gateway.keys.service_role, str(tiny_path("tiny", Path(tmp))),
                                      poll_interval=2.0)  # fmt: skip
            with worker_process(env, Path(tmp) / "worker.log"), StaticSite(dist, web_config(gateway.url,
                                                                           gateway.keys.anon)) as site:  # fmt: skip
                seconds = click_to_first_progress(site.url, samples)
    print_table("Web app bundle (vite build)", sizes)
    timing = {"samples": len(seconds), "p50_s": statistics.median(seconds), "min_s": min(seconds),
              "max_s": max(seconds)}  # fmt: skip
    print_table("Click on Start → first tile showing progress (chromium, local stack, tiny model)", [timing])
    write_results("web_app", args, {"bundle": sizes, "click_to_first_progress": timing, "seconds": seconds})


if __name__ == "__main__":
    main()
