"""Screenshot the MLflow UI for one benchmark invocation: a grouped chart and a run comparison.

Finds the parent run (the experiment's latest run without an `mlflow.parentRunId` tag, or
--parent-run) and its children, starts a throwaway `mlflow server` on the backend store and
drives headless Chromium over the DevTools protocol (stdlib only, --remote-debugging-pipe).
Each shot waits until the React UI has loaded its runs (not just its frame), and is cropped
to the page's content (no sidebar) at --width CSS pixels (default 900, the README's width),
so that the text stays legible where the README shows it:

- --out: the *Compare* page of a few child runs, by default the first seed of a teacher
  (`beso`) and two of its students (`vdd_beso`, `cd`); --compare picks other methods. The
  parallel-coordinates plot is folded and `metrics.json` (every final metric) is opened in
  the artifact viewer for every run; the parameter and metric boxes scroll, as in the UI.
- --out-chart: the runs' *Chart* view grouped by the `method` tag (mean over seeds), showing
  only --chart-metric (default eval/energy_distance) as one bar per method; the runs list on
  the left names the groups in the bars' order.
- --out-table: the runs list filtered to the children, with metric and tag columns.

    .venv/bin/python scripts/mlflow_screenshot.py --tracking-uri sqlite:///mlflow.db \
        --experiment toy2d --out docs/mlflow_compare.png --out-chart docs/mlflow_chart.png

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
SIDEBAR = 206  # CSS px left of and right of <main> (MLflow's navigation bar and margins)
# The UI draws its frame first and its runs later: "0 matching runs" and skeleton rows come
# before the real ones, so every wait also checks that no loading skeleton or spinner is left.
NOT_LOADING = """!document.querySelector(`[class*="skeleton" i], [class*="spinner" i],
  [data-testid*="skeleton" i], [data-testid*="spinner" i]`)"""
RENDERED = """(() => {{ const t = document.body.innerText;
  return t.includes({want}) && !t.includes('Error while loading')
    && !t.includes('Something went wrong') && ({ready}) && """ + NOT_LOADING + """; }})()"""
RUNS_LOADED = "/[1-9][0-9]* matching runs/.test(document.body.innerText)"
CHART_DRAWN = RUNS_LOADED + " && document.querySelectorAll('.js-plotly-plot').length > 0"
# MLflow 3.17's Compare page squeezes the artifact tree to 0 px beside three or more runs (a
# flex item without a minimum width); give it its width back so its files can be opened.
SHOW_ARTIFACT_TREE = """(() => {
  const li = [...document.querySelectorAll('main li')]
    .find(e => (e.innerText || '').trim() === 'metrics.json');
  const box = li && li.closest('ul') && li.closest('ul').parentElement;
  if (box) { box.style.flex = '0 0 190px'; box.style.minWidth = '190px'; }
  return !!box; })()"""
CONTENT_HEIGHT = """innerHeight + Math.max(0, ...[...document.querySelectorAll('*')]
  .filter(e => /auto|scroll/.test(getComputedStyle(e).overflowY))
  .filter(e => e.clientHeight > innerHeight / 2)  // the UI scrolls inside <main>, not <body>
  .map(e => e.scrollHeight - e.clientHeight))"""
MAIN_RECT = """(() => { const r = (document.querySelector('main') || document.body)
  .getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()"""
# The bottom of the Compare page's artifact previews: the viewer below them is empty space.
ARTIFACTS_BOTTOM = """(() => {
  const box = [...document.querySelectorAll('main [class*="collapse-item"]')]
    .find(e => (e.innerText || '').trim().startsWith('Artifacts'));
  if (!box) return 0;
  return Math.max(0, ...[...box.querySelectorAll('*')]
    .filter(e => e.children.length === 0 && e.innerText && e.innerText.trim())
    .map(e => e.getBoundingClientRect().bottom)); })()"""
SPLITTER = """(() => { const e = [...document.querySelectorAll('main *')].find(e =>
  /col-resize|ew-resize/.test(getComputedStyle(e).cursor) && e.offsetWidth < 40
  && e.offsetHeight > 200); if (!e) return null; const r = e.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + 100]; })()"""
HIDE_PLOT_TOOLBARS = """(() => { const s = document.createElement('style');
  s.textContent = '.modebar-container { display: none !important; }';
  document.head.appendChild(s); })()"""
CLICK_TEXT = """(() => {{  // click the innermost element whose own text is exactly this
  const el = [...document.querySelectorAll({selector})]
    .filter(e => e.innerText && e.innerText.trim() === {text})
    .sort((a, b) => a.innerText.length - b.innerText.length || a.contains(b) - b.contains(a))[0];
  if (el) el.click(); return !!el; }})()"""
FILE_PREVIEWS = """document.querySelectorAll('main pre, main code, main .view-lines,
  main [class*="artifact-text" i], main [data-testid*="artifact" i] pre').length > 0"""


def die(msg: str) -> NoReturn:
    print(f"mlflow_screenshot: {msg}", file=sys.stderr)
    sys.exit(1)



def find_runs(tracking_uri: str, experiment: str,
              parent_id: str | None) -> tuple[str, str, list[Any]]:
    """(experiment id, parent run id, its child runs in start order)."""
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
    return eid, parent_id, children


def pick_runs(children: list[Any], methods: list[str]) -> list[Any]:
    """The run of each method with the lowest seed (the `method` and `seed` tags)."""
    def seed(run: Any) -> int:
        return int(run.data.tags.get("seed", "0") or 0)

    picked = []
    for m in methods:
        runs = sorted((r for r in children if r.data.tags.get("method") == m), key=seed)
        if not runs:
            have = sorted({r.data.tags.get("method", "?") for r in children})
            die(f"no child run of method {m!r} (have: {', '.join(have)}); pass --compare")
        picked.append(runs[0])
    return picked



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


def ui_state(eid: str, patch: dict[str, Any]) -> str:
    """JS that merges `patch` into the experiment page's view state (MLflow 3 keeps it in
    localStorage, not in the URL: columns, grouping, charts, expanded rows)."""
    k = json.dumps(f'MLflowLocalStorage-1.1-ExperimentPage-["{eid}"]-ReactComponentState')
    return (f"localStorage.setItem({k}, JSON.stringify(Object.assign("
            f"JSON.parse(localStorage.getItem({k}) || '{{}}'), {json.dumps(patch)})))")


def chart_sections(eid: str, card_height: int) -> str:
    """JS that gives every chart section (generated on the first visit) one card per row,
    `card_height` px high."""
    k = json.dumps(f'MLflowLocalStorage-1.1-ExperimentPage-["{eid}"]-ReactComponentState')
    return (f"(() => {{ const s = JSON.parse(localStorage.getItem({k}) || '{{}}');"
            f" s.compareRunSections = (s.compareRunSections || []).map(x =>"
            f" ({{...x, columns: 1, cardHeight: {card_height}}}));"
            f" localStorage.setItem({k}, JSON.stringify(s)); }})()")


def table_state(eid: str, parent: str, metrics: list[str]) -> str:
    """JS that makes the runs list show the children (parent row expanded) and these columns."""
    widths = {f"metrics.`{m}`": 7 * len(m) + 30 for m in metrics}  # fit the headers
    widths |= {f"tags.`{t}`": 110 for t in ("method", "teacher", "seed")}
    return ui_state(eid, {"selectedColumns": list(widths), "columnOrder": list(widths),
                          "columnWidths": widths, "runsExpanded": {parent: True},
                          "groupBy": None})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tracking-uri",
                   default=os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"),
                   help="backend store (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")
    p.add_argument("--experiment", required=True, help="experiment (task) name")
    p.add_argument("--parent-run", help="parent run id (default: the latest parent run)")
    p.add_argument("--out", type=Path, default=Path("docs/mlflow_compare.png"),
                   help="the Compare page of the --compare runs")
    p.add_argument("--compare", default="beso,vdd_beso,cd",
                   help="comma-separated methods whose first-seed runs --out compares "
                   "(default: beso,vdd_beso,cd: a teacher and two of its students)")
    p.add_argument("--out-chart", type=Path,
                   help="also shoot the Chart view grouped by method (one bar per method)")
    p.add_argument("--chart-metric", default="eval/energy_distance",
                   help="the metric --out-chart shows (default eval/energy_distance)")
    p.add_argument("--out-table", type=Path, help="also shoot the runs list of the children")
    p.add_argument("--metrics", help="comma-separated metric columns for --out-table "
                   "(default: all eval/ keys and timing/ms_per_action_b1)")
    p.add_argument("--port", type=int, default=5055)
    p.add_argument("--width", type=int, default=900,
                   help="CSS px of page content in each shot (default 900: README width)")
    p.add_argument("--timeout", type=float, default=180, help="seconds per wait")
    a = p.parse_args()
    if a.tracking_uri.startswith(("http://", "https://")):
        die("pass the backend store URI (e.g. sqlite:///mlflow.db), not a server URL")
    names = ("chromium", "chromium-browser", "google-chrome")
    binary = next(filter(None, map(shutil.which, names)), None)
    if binary is None:
        die("chromium not found; install it with `sudo apt-get install -y chromium`")

    t0 = time.monotonic()
    eid, parent, children = find_runs(a.tracking_uri, a.experiment, a.parent_run)
    compared = pick_runs(children, [m for m in a.compare.split(",") if m])
    keys = sorted({k for r in children for k in r.data.metrics})
    metrics = (a.metrics.split(",") if a.metrics else
               [k for k in keys if k.startswith("eval/") or k == "timing/ms_per_action_b1"])
    methods = sorted({r.data.tags.get("method", "") for r in children} - {""})
    q = urllib.parse.quote
    with mlflow_server(a.tracking_uri, a.port, a.timeout) as base:
        try:
            chrome = Chromium(binary, a.width + SIDEBAR, 900)
        except RuntimeError as e:
            die(f"chromium did not start: {e}")
        try:
            ids = [r.info.run_id for r in compared]
            runs, exps = (q(json.dumps(x, separators=(",", ":"))) for x in (ids, [eid]))
            url = f"{base}/#/compare-runs?runs={runs}&experiments={exps}"
            sel = json.dumps("main *")
            chrome.shoot(url, f"Comparing {len(ids)} Runs", a.out, a.timeout, width=a.width,
                         ready="document.body.innerText.includes('metrics.json')",
                         after=(CLICK_TEXT.format(selector=sel, text=json.dumps("Visualizations")),
                                SHOW_ARTIFACT_TREE,
                                CLICK_TEXT.format(selector=sel, text=json.dumps("metrics.json"))),
                         bottom=ARTIFACTS_BOTTOM)
            names = ", ".join(r.info.run_name for r in compared)
            print(f"{a.out}: Compare page of {names} (children of {parent})")
            filt = q(f"tags.mlflow.parentRunId = '{parent}'")
            if a.out_chart:
                url = (f"{base}/#/experiments/{eid}/runs?searchFilter={filt}"
                       f"&compareRunsMode=CHART")
                group = {"aggregateFunction": "average",
                         "groupByKeys": [{"mode": "tag", "groupByData": "method"}]}
                state = {"groupBy": group, "runsHiddenMode": "SHOW_ALL",
                         "chartsSearchFilter": f"^{a.chart_metric}$",  # a regular expression
                         "groupsExpanded": {f"tag.method.{m}": False for m in methods},
                         "runsExpanded": {}, "runListHidden": False}
                card = 140 + 46 * len(methods)  # a bar and a legend line per method
                chrome.shoot(url, "matching runs", a.out_chart, a.timeout, width=a.width,
                             ready=CHART_DRAWN, first_ready=RUNS_LOADED,
                             before=(ui_state(eid, state), chart_sections(eid, card)),
                             after=(lambda c: c.drag_splitter(70),), height=card + 330)
                print(f"{a.out_chart}: {a.chart_metric} grouped by method ({len(methods)})")
            if a.out_table:
                url = (f"{base}/#/experiments/{eid}/runs?searchFilter={filt}"
                       f"&compareRunsMode=TABLE")
                chrome.shoot(url, "matching runs", a.out_table, a.timeout, width=a.width,
                             ready=RUNS_LOADED, before=(table_state(eid, parent, metrics),),
                             height=300 + 33 * len(children))
                print(f"{a.out_table}: runs list with {', '.join(metrics)}")
        except RuntimeError as e:
            die(f"chromium: {e}")
        finally:
            chrome.close()
    print(f"done in {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
