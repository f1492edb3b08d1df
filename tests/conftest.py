from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch) -> str:
    """Run from the repository root (gin paths) with a fresh MLflow store under tmp_path, its
    artifacts included: a sqlite store otherwise puts new experiments' artifacts in ./mlruns,
    i.e. the repository root. MLflow reads the artifact root from `_MLFLOW_SERVER_ARTIFACT_ROOT`
    when it opens a sqlite store (in this process and in the subprocesses that inherit it)."""
    monkeypatch.chdir(REPO)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("_MLFLOW_SERVER_ARTIFACT_ROOT", str(tmp_path / "mlruns"))
    return uri
