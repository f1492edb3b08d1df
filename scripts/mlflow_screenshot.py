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
import contextlib
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
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from chromium_page import HOST, SIDEBAR, Chromium, die  # noqa: E402  (a script beside this one)

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
# The bottom of the Compare page's artifact previews: the viewer below them is empty space.
ARTIFACTS_BOTTOM = """(() => {
  const box = [...document.querySelectorAll('main [class*="collapse-item"]')]
    .find(e => (e.innerText || '').trim().startsWith('Artifacts'));
  if (!box) return 0;
  return Math.max(0, ...[...box.querySelectorAll('*')]
    .filter(e => e.children.length === 0 && e.innerText && e.innerText.trim())
    .map(e => e.getBoundingClientRect().bottom)); })()"""
CLICK_TEXT = """(() => {{  // click the innermost element whose own text is exactly this
  const el = [...document.querySelectorAll({selector})]
    .filter(e => e.innerText && e.innerText.trim() === {text})
    .sort((a, b) => a.innerText.length - b.innerText.length || a.contains(b) - b.contains(a))[0];
  if (el) el.click(); return !!el; }})()"""
FILE_PREVIEWS = """document.querySelectorAll('main pre, main code, main .view-lines,
  main [class*="artifact-text" i], main [data-testid*="artifact" i] pre').length > 0"""


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
