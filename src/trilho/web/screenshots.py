"""Regenerate ``docs/screenshots/*.png``: seed a throwaway store, serve the dashboard, photograph each page.

    python -m trilho.web.screenshots [--out docs/screenshots] [--width 1366]

Uses the system's headless Chromium through Selenium (``/usr/bin/chromium`` and ``/usr/bin/chromedriver``;
``scripts/ensure-system-deps.sh`` installs them). The helpers here (:func:`serve_in_thread`,
:func:`chrome`, :func:`sign_in`) are what the browser tests use too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
PAGES = (
    ("models", "/ui/models/iris"),
    ("rollouts", "/ui/rollouts/iris"),
    ("slos", "/ui/slos"),
    ("evals", "/ui/evals"),
    ("experiments", "/ui/experiments/checkout-button"),
)


def serve_in_thread(app: Any) -> tuple[str, Callable[[], None]]:
    """Run ``app`` with uvicorn on a free 127.0.0.1 port in a thread; returns (base URL, stop)."""
    from trilho.net.server import serve_in_thread as serve

    running = serve(app)
    url = running.__enter__()
    return url, lambda: running.__exit__(None, None, None)


def chrome(user_data_dir: str | Path, *, width: int = 1366, height: int = 900) -> Any:
    """A headless Chromium driven by Selenium, with a fresh profile in ``user_data_dir``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={user_data_dir}")
    opts.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    return driver


def sign_in(
    driver: Any, base: str, token: str, next_path: str = "/ui/rollouts", timeout: float = 30.0
) -> None:
    """Sign in through the login form; returns once the browser has loaded the page it was sent on to (a
    click only starts the navigation: looking for that page's elements at once can still find the form)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/ui/login?next={next_path}")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "signin").click()
    WebDriverWait(driver, timeout).until(
        lambda d: (
            "/ui/login" not in d.current_url and d.execute_script("return document.readyState") == "complete"
        )
    )


def wait_for_charts(driver: Any, timeout: float = 20.0) -> int:
    """Wait until every chart div on the page has been drawn by plotly.js; returns how many there are."""
    from selenium.webdriver.support.ui import WebDriverWait

    script = (
        "const c = document.querySelectorAll('.chart[data-figure]');"
        "return [c.length, document.querySelectorAll('.chart.drawn .main-svg').length > 0 ? "
        "document.querySelectorAll('.chart.drawn').length : 0];"
    )
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script)[0] == d.execute_script(script)[1])
    return int(driver.execute_script(script)[0])


def full_page(driver: Any, path: Path, width: int) -> None:
    """A screenshot of the whole page height (capped so PNGs stay small)."""
    height, chrome_px = driver.execute_script(
        "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]"
    )
    driver.set_window_size(width, min(max(int(height), 700), 2200) + int(chrome_px))
    time.sleep(0.3)
    driver.save_screenshot(str(path))
    shrink_png(path)


def shrink_png(path: Path) -> None:
    """Re-save as a 256-colour palette PNG (a fraction of the size, same look) when Pillow is installed."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def capture(out: Path, *, width: int = 1366) -> list[Path]:
    """Seed, serve and photograph every page into ``out``; returns the files written."""
    from trilho.registry import Registry
    from trilho.rollout.auth import create_token
    from trilho.store import Store
    from trilho.testing.dashboard import seed
    from trilho.web import create_app

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = Store(f"sqlite:///{home / 'trilho.db'}")
        store.migrate()
        seed(store, home)
        token = create_token(store, "alice", "deployer", actor="user:admin")
        app = create_app(store, registry=Registry(store, home / "artifacts"), reports_dir=home / "reports")
        base, stop = serve_in_thread(app)
        driver = chrome(home / "profile", width=width)
        written = []
        try:
            sign_in(driver, base, token)
            for name, url in PAGES:
                driver.set_window_size(width, 900)
                driver.get(base + url)
                wait_for_charts(driver)
                path = out / f"{name}.png"
                full_page(driver, path, width)
                written.append(path)
        finally:
            driver.quit()
            stop()
            store.dispose()
    return written


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--width", type=int, default=1366)
    args = parser.parse_args(argv)
    for path in capture(args.out, width=args.width):
        print(path)


if __name__ == "__main__":
    main()
