"""Drive one page in headless Chromium over the DevTools protocol (stdlib only,
--remote-debugging-pipe): wait until a React UI has rendered, click, and save <main> as a
cropped PNG. Used by scripts/mlflow_screenshot.py.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

HOST = "mlflow-screenshot"  # not "localhost": MLflow auto-opens its Assistant panel there
SIDEBAR = 206  # CSS px left of and right of <main> (MLflow's navigation bar and margins)
# The UI draws its frame first and its runs later: "0 matching runs" and skeleton rows come
# before the real ones, so every wait also checks that no loading skeleton or spinner is left.
NOT_LOADING = """!document.querySelector(`[class*="skeleton" i], [class*="spinner" i],
  [data-testid*="skeleton" i], [data-testid*="spinner" i]`)"""
RENDERED = """(() => {{ const t = document.body.innerText;
  return t.includes({want}) && !t.includes('Error while loading')
    && !t.includes('Something went wrong') && ({ready}) && """ + NOT_LOADING + """; }})()"""
CONTENT_HEIGHT = """innerHeight + Math.max(0, ...[...document.querySelectorAll('*')]
  .filter(e => /auto|scroll/.test(getComputedStyle(e).overflowY))
  .filter(e => e.clientHeight > innerHeight / 2)  // the UI scrolls inside <main>, not <body>
  .map(e => e.scrollHeight - e.clientHeight))"""
MAIN_RECT = """(() => { const r = (document.querySelector('main') || document.body)
  .getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()"""
SPLITTER = """(() => { const e = [...document.querySelectorAll('main *')].find(e =>
  /col-resize|ew-resize/.test(getComputedStyle(e).cursor) && e.offsetWidth < 40
  && e.offsetHeight > 200); if (!e) return null; const r = e.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + 100]; })()"""
HIDE_PLOT_TOOLBARS = """(() => { const s = document.createElement('style');
  s.textContent = '.modebar-container { display: none !important; }';
  document.head.appendChild(s); })()"""

def die(msg: str) -> NoReturn:
    print(f"{Path(sys.argv[0]).stem}: {msg}", file=sys.stderr)
    sys.exit(1)



class Chromium:
    """Minimal DevTools-protocol client over --remote-debugging-pipe (fds 3 and 4)."""

    def __init__(self, binary: str, width: int, height: int) -> None:
        self.profile = tempfile.TemporaryDirectory()
        to_chrome, self.w = os.pipe()
        self.r, from_chrome = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4; move the pipe ends
        # above 10 first so that the redirections cannot clobber each other.
        fin, fout = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chrome, from_chrome))
        # Without the networking switches Chromium stalls on a machine with no way out
        # (component updates, sync, QUIC probes).
        flags = ["--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                 "--disable-dev-shm-usage", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--remote-debugging-pipe",
                 f"--user-data-dir={self.profile.name}", f"--window-size={width},{height}",
                 f"--host-resolver-rules=MAP {HOST} 127.0.0.1"]
        flags += ["--no-sandbox"] if os.geteuid() == 0 else []
        shell = f'exec "$0" "$@" 3<&{fin} 4>&{fout} {fin}<&- {fout}>&-'
        self.proc = subprocess.Popen(["bash", "-c", shell, binary, *flags, "about:blank"],
                                     pass_fds=(fin, fout), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        for fd in (to_chrome, from_chrome, fin, fout):
            os.close(fd)
        self.ids, self.buf, self.width = itertools.count(1), b"", width
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target,
                                     flatten=True)["sessionId"]
        except Exception:
            self.close()
            raise

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        msg = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self.buf:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium exited")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})

    def eval(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", self.session, expression=expression,
                        returnByValue=True)
        return res.get("result", {}).get("value")


    def drag_splitter(self, dx: int) -> None:
        """Drags the bar between the runs list and the charts `dx` px to the right (the list's
        width is not view state MLflow keeps), so that the group names are not cut."""
        xy = self.eval(SPLITTER)
        if not xy:
            return
        x, y = xy
        for kind, at in (("mousePressed", x), ("mouseMoved", x + dx / 2), ("mouseMoved", x + dx),
                         ("mouseReleased", x + dx)):
            self.call("Input.dispatchMouseEvent", self.session, type=kind, x=at, y=y,
                      button="left", buttons=0 if kind == "mouseReleased" else 1, clickCount=1)
            time.sleep(0.2)
        self.call("Input.dispatchMouseEvent", self.session, type="mouseMoved", x=1, y=1)

    def wait_for(self, want: str, timeout: float, ready: str = "true") -> None:
        """Until the page shows `want`, `ready` (JS) holds and nothing is loading any more."""
        deadline = time.monotonic() + timeout
        while not self.eval(RENDERED.format(want=json.dumps(want), ready=ready)):
            if time.monotonic() > deadline:
                die(f"the MLflow UI did not show {want!r} within {timeout:.0f} s")
            time.sleep(0.5)
        time.sleep(3)  # let charts and lazy tables settle

    def shoot(self, url: str, want: str, out: Path, timeout: float, *, width: int,
              height: int = 0, ready: str = "true", first_ready: str = "",
              before: tuple[str, ...] = (), after: tuple[Any, ...] = (),
              bottom: str = "") -> None:
        """Opens url and waits until the page shows `want` (and `ready` holds); runs each of
        `before` followed by a reload (to seed localStorage, where MLflow 3 keeps the view
        state; `first_ready` replaces `ready` before that), then `after` (clicks, or
        callables given this browser), and saves <main> as a PNG, `width` CSS px wide and
        `height` high (0: the whole content, cut at `bottom`, a JS y coordinate, if given)."""
        self.call("Emulation.setDeviceMetricsOverride", self.session, width=width + SIDEBAR,
                  height=max(height, 900), deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", self.session, url=url)
        self.wait_for(want, timeout, first_ready or ready)
        for js in before:
            self.eval(js)
            self.call("Page.reload", self.session)
            time.sleep(1)
            self.wait_for(want, timeout, ready)
        for js in after:
            js(self) if callable(js) else self.eval(js)
            time.sleep(1)
        if after:  # what the clicks opened has loaded too
            self.wait_for(want, timeout, ready)
        self.eval(HIDE_PLOT_TOOLBARS)
        full = max(900, int(self.eval(CONTENT_HEIGHT) or 0))
        self.call("Emulation.setDeviceMetricsOverride", self.session, width=width + SIDEBAR,
                  height=height or full, deviceScaleFactor=1, mobile=False)
        time.sleep(2)
        x, y, w, h = self.eval(MAIN_RECT)
        if bottom:  # crop what is left below the content (empty viewers)
            h = min(h, max(200, (self.eval(bottom) or h) + 24 - y))
        clip = {"x": x, "y": y, "width": w, "height": h, "scale": 1}
        shot = self.call("Page.captureScreenshot", self.session, format="png", clip=clip)
        png = base64.b64decode(shot["data"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(png)
        check_png(out)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.w)
        os.close(self.r)
        self.profile.cleanup()


def check_png(path: Path) -> None:
    """Fails if the screenshot is (nearly) one flat colour."""
    from PIL import Image

    with Image.open(path) as im:
        colours = im.convert("RGB").resize((200, 200)).getcolors(200 * 200) or []
    if len(colours) < 50:
        die(f"{path} looks blank ({len(colours)} colours)")
