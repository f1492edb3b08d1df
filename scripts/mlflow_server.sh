#!/usr/bin/env bash
# One MLflow tracking server for many writers (a Ray cluster's workers, several invocations):
# runs and metrics in a sqlite database, artifacts (checkpoints, tables, figures, videos)
# uploaded through the server and kept on this machine, so workers need no shared filesystem.
#
#   scripts/mlflow_server.sh                 # listens on 0.0.0.0:5000, data under ./mlflow-server/
#   PORT=5001 DATA=/srv/mlflow scripts/mlflow_server.sh
#   export MLFLOW_TRACKING_URI=http://<this host>:5000   # on the driver (workers are told)
#
# HOST=127.0.0.1 keeps it local. MLflow's own Host-header check admits localhost and private
# addresses (10.*, 172.16-31.*, 192.168.*); ALLOWED_HOSTS=name:port,... adds others.
# WORKERS sets the server's worker processes (default 2: this bench writes in small batches).
set -euo pipefail
cd "$(dirname "$0")/.."
MLFLOW=${MLFLOW:-.venv/bin/mlflow}
DATA=${DATA:-mlflow-server}
HOST=${HOST:-0.0.0.0}
PORT=${PORT:-5000}
WORKERS=${WORKERS:-2}
[ -x "$MLFLOW" ] || { echo "error: $MLFLOW not found: run scripts/setup.sh first" >&2; exit 2; }
mkdir -p "$DATA/artifacts"
DATA=$(cd "$DATA" && pwd)
extra=()
[ -n "${ALLOWED_HOSTS:-}" ] && extra+=(--allowed-hosts "$ALLOWED_HOSTS")
echo "mlflow server: runs in sqlite:///$DATA/mlflow.db, artifacts in $DATA/artifacts," \
     "listening on $HOST:$PORT (set MLFLOW_TRACKING_URI=http://<this host>:$PORT)"
exec "$MLFLOW" server --backend-store-uri "sqlite:///$DATA/mlflow.db" \
    --serve-artifacts --artifacts-destination "$DATA/artifacts" \
    --host "$HOST" --port "$PORT" --workers "$WORKERS" "${extra[@]}"
