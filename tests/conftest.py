from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch) -> str:
    """Run from the repository root (gin paths) with a fresh MLflow store under tmp_path."""
    monkeypatch.chdir(REPO)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri
