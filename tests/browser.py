"""A page opened the way a person opens it: Debian's Chromium, headless, driven through
chromium-driver (selenium), so a test can look at what was rendered — a screenshot, the
console's messages (read through the driver's log, not Chromium's stderr, which mixes them with
dbus noise), the fonts the text was actually drawn with, and an A4 PDF printed by the browser.

The flags are those a closed network needs: without the background-networking ones Chromium
keeps opening connections the sandbox refuses. As root it runs only with ``--no-sandbox``.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
A4_INCHES = (8.27, 11.69)
_FLAGS = ("--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-default-apps", "--hide-scrollbars", "--force-device-scale-factor=1")


def available() -> bool:
    """Whether Chromium and its driver are installed (``make test`` installs them)."""
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@dataclass
class Page:
    """One page open in the browser."""

    driver: Any

    def screenshot(self, path: Path, width: int = 1280) -> Path:
        """A PNG of the whole page, ``width`` CSS pixels wide."""
        height = int(self.driver.execute_script(
            "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"))
        self.driver.set_window_size(width, max(600, min(height + 100, 16000)))
        self.driver.get_screenshot_as_file(str(path))
        return path

    def console_errors(self) -> list[str]:
        """The console's messages at level SEVERE (errors, failed loads) since the page opened."""
        return [entry["message"] for entry in self.driver.get_log("browser")
                if entry.get("level") == "SEVERE"]

    def text(self) -> str:
        """The page's visible text."""
        return str(self.driver.execute_script("return document.body.innerText"))

    def fonts_of(self, selector: str) -> dict[str, int]:
        """The platform fonts the text of the first element matching ``selector`` was drawn
        with, and how many glyphs each drew (CSS.getPlatformFontsForNode): what a reader saw,
        whatever the stylesheet asked for."""
        cdp = self.driver.execute_cdp_cmd
        cdp("DOM.enable", {})
        cdp("CSS.enable", {})
        root = cdp("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        node = cdp("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if not node:
            raise LookupError(f"no element matches {selector!r}")
        fonts = cdp("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        return {f["familyName"]: int(f["glyphCount"]) for f in fonts}

    def print_pdf(self, path: Path, *, landscape: bool = False) -> Path:
        """The page printed by the browser on A4 (Page.printToPDF, as ``--print-to-pdf``)."""
        width, height = A4_INCHES
        printed = self.driver.execute_cdp_cmd("Page.printToPDF", {
            "paperWidth": width, "paperHeight": height, "landscape": landscape,
            "printBackground": True, "preferCSSPageSize": True})
        path.write_bytes(base64.b64decode(printed["data"]))
        return path


@contextmanager
def open_page(path: Path) -> Iterator[Page]:
    """Open a local file in headless Chromium; the browser quits on leaving."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="jiekun-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in _FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_window_size(1280, 1000)
        driver.get(path.resolve().as_uri())
        yield Page(driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
