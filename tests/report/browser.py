"""Open a page in a real headless Chromium and report what it shows.

A copy of the page gets a small script: it records every error event (a resource that
fails to load, a script error) and every console.error, and after the load event writes
into the DOM how many images there are, which have no pixels (naturalWidth 0), and how
many tables. ``chromium --dump-dom`` prints that DOM; Chromium's own log (stderr) is
searched for console messages too.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio"]

PROBE = """<script>
window.__problems = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__problems.push(t && t.tagName ? 'failed to load ' + t.tagName + ' ' +
    String(t.src || t.href || '').slice(0, 80) : 'error: ' + e.message);
}, true);
(function () {
  var original = console.error;
  console.error = function () {
    window.__problems.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    original.apply(console, arguments);
  };
})();
window.addEventListener('load', function () {
  var images = document.images, broken = [];
  for (var i = 0; i < images.length; i++) {
    if (!images[i].complete || images[i].naturalWidth === 0) broken.push(images[i].alt);
  }
  var out = document.createElement('pre');
  out.id = 'equilens-probe';
  out.textContent = JSON.stringify({images: images.length, broken: broken,
    problems: window.__problems, tables: document.querySelectorAll('table').length,
    figures: document.querySelectorAll('figure').length});
  document.body.appendChild(out);
});
</script>"""


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def inspect_page(page: Path, chromium: str, timeout: float = 120.0) -> dict:
    """What Chromium shows of ``page``: images, broken images, tables, problems, console."""
    page = Path(page)
    with tempfile.TemporaryDirectory(prefix="equilens-chromium-") as tmp:
        copy = Path(tmp) / page.name
        text = page.read_text()
        copy.write_text(text.replace("<head>", "<head>" + PROBE, 1))
        proc = subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={tmp}/profile", "--enable-logging=stderr",
             "--v=0", "--virtual-time-budget=20000", "--dump-dom", copy.as_uri()],
            check=False, capture_output=True, text=True, timeout=timeout, env={**os.environ, "HOME": tmp})
    match = re.search(r'<pre id="equilens-probe">(.*?)</pre>', proc.stdout, re.DOTALL)
    if not match:
        raise AssertionError(f"chromium showed no probe result (exit {proc.returncode}); "
                             f"stderr: {proc.stderr[-2000:]}")
    result = json.loads(html.unescape(match.group(1)))
    result["console"] = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return result


def screenshot(page: Path, chromium: str, out: Path, width: int = 1280,
               height: int = 8000) -> Path:
    """Render ``page`` to a PNG of ``width`` x ``height`` pixels."""
    with tempfile.TemporaryDirectory(prefix="equilens-chromium-") as tmp:
        subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp}/profile",
                        f"--window-size={width},{height}", f"--screenshot={out}",
                        Path(page).resolve().as_uri()],
                       check=False, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "HOME": tmp})
    return out
