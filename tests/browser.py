"""Open a page in a real headless Chromium and report what it shows.

A copy of the page gets a small script: it records every error event (a resource that
fails to load, a script error) and every console.error, and after the load event writes
into the DOM how many images there are, which have no pixels (naturalWidth 0), and how
many tables. ``chromium --dump-dom`` prints that DOM; Chromium's own log (stderr) is
searched for console messages too.

:class:`DevToolsPage` drives a page through the DevTools protocol over a pipe
(``--remote-debugging-pipe``: JSON messages ending in a NUL byte on file descriptors 3
and 4): it records every request, console message and uncaught exception, evaluates
JavaScript in the page and takes screenshots.
"""

from __future__ import annotations

import base64
import fcntl
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
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


#: Schemes a page opened from disk may load without leaving the machine.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome:", "devtools:")


class DevToolsPage:
    """One headless Chromium tab driven through the DevTools protocol (a context manager).

    ``requests``: every URL the page asked for; ``console``: ``(level, text)`` of every
    console message and log entry; ``exceptions``: text of every uncaught exception.
    """

    def __init__(self, chromium: str, width: int = 1400, height: int = 900, timeout: float = 60.0):
        self.chromium, self.width, self.height, self.timeout = chromium, width, height, timeout
        self.requests: list[str] = []
        self.console: list[tuple[str, str]] = []
        self.exceptions: list[str] = []
        self._events: list[dict] = []
        self._next_id = 0
        self._buffer = b""

    def __enter__(self) -> DevToolsPage:
        self._tmp = tempfile.TemporaryDirectory(prefix="equilens-devtools-")
        to_browser, self._write_end = os.pipe()
        self._read_end, from_browser = os.pipe()

        def wire() -> None:  # the browser reads commands on fd 3 and writes answers on fd 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        # close_fds=False: the child's fds 3 and 4 are set after the parent's are closed;
        # every other descriptor of this process is close-on-exec already
        self._proc = subprocess.Popen(
            # a dead local proxy: a request a page makes is recorded but never leaves the machine
            [self.chromium, *FLAGS, "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
             "--proxy-server=127.0.0.1:9",
             f"--user-data-dir={self._tmp.name}/profile", "--remote-debugging-pipe",
             f"--window-size={self.width},{self.height}", "about:blank"],
            close_fds=False, preexec_fn=wire, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env={**os.environ, "HOME": self._tmp.name})
        os.close(to_browser)
        os.close(from_browser)
        target = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self._session = self.call("Target.attachToTarget", targetId=target["targetId"],
                                  flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=self.width,
                  height=self.height, deviceScaleFactor=1, mobile=False)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.call("Browser.close")
        except (OSError, TimeoutError, StopIteration):
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._write_end)
        os.close(self._read_end)
        self._tmp.cleanup()

    def call(self, method: str, session: bool = False, **params) -> dict:
        """Send one command (to the page's session when ``session``) and return its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._write_end, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._record(reply)

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._read_end, 1 << 16)
            if not chunk:
                raise OSError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _record(self, event: dict) -> None:
        method, params = event.get("method", ""), event.get("params", {})
        self._events.append(event)
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.console.append((params["type"], text))
        elif method == "Log.entryAdded":
            self.console.append((params["entry"]["level"], params["entry"]["text"]))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.exceptions.append(details.get("exception", {}).get("description", details["text"]))

    def open(self, page: Path) -> None:
        """Navigate to ``page`` (a file) and wait for its load event."""
        self._events.clear()
        self.call("Page.navigate", session=True, url=Path(page).resolve().as_uri())
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            self._record(self._receive(deadline))

    def evaluate(self, expression: str):
        """The value of a JavaScript expression (awaited when it is a promise), as JSON."""
        result = self.call("Runtime.evaluate", session=True, expression=expression,
                           awaitPromise=True, returnByValue=True, timeout=self.timeout * 1000)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(details.get("exception", {}).get("description", details["text"]))
        return result["result"].get("value")

    def wait(self, seconds: float) -> None:
        """Let the page run for ``seconds`` while its events are recorded."""
        self.evaluate(f"new Promise(r => setTimeout(r, {seconds * 1000:.0f}))")

    def screenshot(self, out: Path) -> Path:
        """A PNG of the viewport."""
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        Path(out).write_bytes(base64.b64decode(data))
        return Path(out)

    def outside_requests(self) -> list[str]:
        """Requested URLs that leave the file system (anything but file:, data:, blob: ...)."""
        return [url for url in self.requests if not url.startswith(LOCAL_SCHEMES)]

    def errors(self) -> list[str]:
        """Console errors, failed loads and uncaught exceptions, one line each."""
        return [text for level, text in self.console if level in ("error", "assert")] + self.exceptions
