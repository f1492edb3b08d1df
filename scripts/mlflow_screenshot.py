"""Screenshot the MLflow UI comparing the child runs of one benchmark invocation.

Finds the parent run (the experiment's latest run without an `mlflow.parentRunId` tag, or
--parent-run) and its children, starts a throwaway `mlflow server` on the backend store and
shoots the run comparison page (`#/compare-runs?runs=["id",...]&experiments=["1"]`) with
headless Chromium, driven over the DevTools protocol (stdlib only, --remote-debugging-pipe):
it waits until the page shows the runs, unfolds the 300 px metrics box to every row the UI
has rendered (all eval/ and timing/ keys) and fits the height to the page. --out-table also
shoots the runs list filtered to the children, with metric and tag columns.

    .venv/bin/python scripts/mlflow_screenshot.py --tracking-uri sqlite:///mlflow.db \
        --experiment avoiding --out docs/mlflow_compare.png --out-table docs/mlflow_runs.png

Needs Chromium, which is not a project dependency: `sudo apt-get install -y chromium`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

HOST = "mlflow-screenshot"  # not "localhost": MLflow auto-opens its Assistant panel there
RENDERED = """(() => {{ const t = document.body.innerText;
  return t.includes({want}) && !t.includes('Error while loading'); }})()"""
UNFOLD_METRICS = """(() => {  // show all rendered rows of the virtualized metrics table
  for (const grid of document.querySelectorAll('.ReactVirtualized__Grid')) {
    const inner = grid.firstElementChild; if (!inner) continue;
    const h = Math.max(0, ...[...inner.children].map(c => c.offsetTop + c.offsetHeight));
    if (h > grid.clientHeight) {
      grid.style.height = inner.style.height = inner.style.maxHeight = h + 'px'; }
  } })()"""
CONTENT_HEIGHT = """innerHeight + Math.max(0, ...[...document.querySelectorAll('*')]
  .filter(e => /auto|scroll/.test(getComputedStyle(e).overflowY))
  .filter(e => e.clientHeight > innerHeight / 2)  // the UI scrolls inside <main>, not <body>
  .map(e => e.scrollHeight - e.clientHeight))"""


def die(msg: str) -> NoReturn:
    print(f"mlflow_screenshot: {msg}", file=sys.stderr)
    sys.exit(1)


def find_runs(tracking_uri: str, experiment: str,
              parent_id: str | None) -> tuple[str, str, list[str], list[str]]:
    """(experiment id, parent run id, child run ids in start order, their metric keys)."""
    from mlflow.tracking import MlflowClient

    db = tracking_uri.removeprefix("sqlite:///")
    if db != tracking_uri and not Path(db).is_file():  # sqlite would create an empty store
        die(f"no sqlite store at {db}")
    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        exp = client.get_experiment_by_name(experiment)
    except Exception as e:  # noqa: BLE001 - unreadable store, bad URI
        die(f"cannot read {tracking_uri}: {str(e).splitlines()[0]}")
    if exp is None:
        die(f"no experiment {experiment!r} in {tracking_uri}")
    eid = exp.experiment_id
    if parent_id is None:
        runs = client.search_runs([eid], order_by=["attributes.start_time DESC"], max_results=1000)
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        if not parents:
            die(f"experiment {experiment!r} has no parent runs")
        parent_id = parents[0].info.run_id
    children = client.search_runs([eid], f"tags.mlflow.parentRunId = '{parent_id}'",
                                  order_by=["attributes.start_time ASC"], max_results=1000)
    if not children:
        die(f"run {parent_id} has no child runs in experiment {experiment!r}")
    keys = sorted({k for r in children for k in r.data.metrics})
    return eid, parent_id, [r.info.run_id for r in children], keys


@contextlib.contextmanager
def mlflow_server(tracking_uri: str, port: int, timeout: float) -> Iterator[str]:
    """Runs `mlflow server` on 127.0.0.1:port; yields the base URL Chromium should use."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            die(f"port {port} is already in use; pass another --port")
    origin = f"http://{HOST}:{port}"
    cmd = [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
           tracking_uri, "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--allowed-hosts", f"{HOST}:{port}", "--cors-allowed-origins", origin]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                tail = log.read().decode(errors="replace").strip().splitlines()[-1:] or [""]
                why = "exited" if proc.poll() is not None else f"not up after {timeout:.0f} s"
                die(f"mlflow server did not start ({why}): {tail[0]}")
            time.sleep(0.5)
        yield origin
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Chromium:
    """Minimal DevTools-protocol client over --remote-debugging-pipe (fds 3 and 4)."""

    def __init__(self, binary: str, width: int, height: int) -> None:
        self.profile = tempfile.TemporaryDirectory()
        to_chrome, self.w = os.pipe()
        self.r, from_chrome = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4; move the pipe ends
        # above 10 first so that the redirections cannot clobber each other.
        fin, fout = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chrome, from_chrome))
        flags = ["--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                 "--disable-dev-shm-usage", "--remote-debugging-pipe",
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

    def wait_for(self, want: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.eval(RENDERED.format(want=json.dumps(want))):
            if time.monotonic() > deadline:
                die(f"the MLflow UI did not show {want!r} within {timeout:.0f} s")
            time.sleep(0.5)
        time.sleep(3)  # let charts and lazy tables settle

    def shoot(self, url: str, want: str, out: Path, timeout: float, *, width: int = 0,
              height: int = 0, before: str = "", after: str = "") -> None:
        """Opens url and waits until the page shows `want`; runs `before` and reloads (to seed
        localStorage), runs `after`, then saves a PNG `height` px high (0: fit the content)."""
        self.call("Emulation.clearDeviceMetricsOverride", self.session)
        self.call("Page.navigate", self.session, url=url)
        self.wait_for(want, timeout)
        if before:
            self.eval(before)
            self.call("Page.reload", self.session)
            self.wait_for(want, timeout)
        if after:
            self.eval(after)
        height = height or max(800, int(self.eval(CONTENT_HEIGHT) or 0))
        self.call("Emulation.setDeviceMetricsOverride", self.session, width=width or self.width,
                  height=height, deviceScaleFactor=1, mobile=False)
        time.sleep(1)
        shot = self.call("Page.captureScreenshot", self.session, format="png")
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


def table_state(eid: str, parent: str, metrics: list[str]) -> tuple[str, int]:
    """JS that makes the runs list show the children (parent row expanded) and these columns
    (MLflow 3 keeps that view state in localStorage, not in the URL); the table's width."""
    key = f'MLflowLocalStorage-1.1-ExperimentPage-["{eid}"]-ReactComponentState'
    widths = {f"metrics.`{m}`": 7 * len(m) + 30 for m in metrics}  # fit the headers
    widths |= {f"tags.`{t}`": 110 for t in ("method", "teacher", "seed")}
    patch = {"selectedColumns": list(widths), "columnOrder": list(widths), "columnWidths": widths,
             "runsExpanded": {parent: True}}
    k = json.dumps(key)
    js = (f"localStorage.setItem({k}, JSON.stringify(Object.assign("
          f"JSON.parse(localStorage.getItem({k}) || '{{}}'), {json.dumps(patch)})))")
    return js, sum(widths.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tracking-uri",
                   default=os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"),
                   help="backend store (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")
    p.add_argument("--experiment", required=True, help="experiment (task) name")
    p.add_argument("--parent-run", help="parent run id (default: the latest parent run)")
    p.add_argument("--out", type=Path, default=Path("docs/mlflow_compare.png"))
    p.add_argument("--out-table", type=Path, help="also shoot the runs list of the children")
    p.add_argument("--metrics", help="comma-separated metric columns for --out-table "
                   "(default: all eval/ keys and timing/ms_per_action_b1)")
    p.add_argument("--port", type=int, default=5055)
    p.add_argument("--width", type=int, default=0, help="window width (default: fit the runs)")
    p.add_argument("--timeout", type=float, default=120, help="seconds per wait")
    a = p.parse_args()
    if a.tracking_uri.startswith(("http://", "https://")):
        die("pass the backend store URI (e.g. sqlite:///mlflow.db), not a server URL")
    names = ("chromium", "chromium-browser", "google-chrome")
    binary = next(filter(None, map(shutil.which, names)), None)
    if binary is None:
        die("chromium not found; install it with `sudo apt-get install -y chromium`")

    t0 = time.monotonic()
    eid, parent, children, keys = find_runs(a.tracking_uri, a.experiment, a.parent_run)
    metrics = (a.metrics.split(",") if a.metrics else
               [k for k in keys if k.startswith("eval/") or k == "timing/ms_per_action_b1"])
    width = a.width or min(4000, max(1600, 520 + 200 * len(children)))
    q = urllib.parse.quote
    with mlflow_server(a.tracking_uri, a.port, a.timeout) as base:
        try:
            chrome = Chromium(binary, width, 1200)
        except RuntimeError as e:
            die(f"chromium did not start: {e}")
        try:
            runs, exps = (q(json.dumps(x, separators=(",", ":"))) for x in (children, [eid]))
            url = f"{base}/#/compare-runs?runs={runs}&experiments={exps}"
            chrome.shoot(url, f"Comparing {len(children)} Runs", a.out, a.timeout,
                         after=UNFOLD_METRICS)
            print(f"{a.out}: {len(children)} child runs of {parent}")
            if a.out_table:
                filt = q(f"tags.mlflow.parentRunId = '{parent}'")
                url = f"{base}/#/experiments/{eid}/runs?searchFilter={filt}&compareRunsMode=TABLE"
                js, table_width = table_state(eid, parent, metrics)
                chrome.shoot(url, "matching runs", a.out_table, a.timeout, before=js,
                             width=max(1600, table_width + 820), height=300 + 33 * len(children))
                print(f"{a.out_table}: runs list with {', '.join(metrics)}")
        except RuntimeError as e:
            die(f"chromium: {e}")
        finally:
            chrome.close()
    print(f"done in {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
