from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from papercoder_mcp.verify.environments import BorrowedSiteBuilder, use_builder

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_PAPERS = SHARED / "papers"


@pytest.fixture(autouse=True)
def _isolate_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may touch the user's files or keys: the store, HOME and data dirs live in tmp_path."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("PAPERCODER_DB", str(tmp_path / "store.db"))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture(autouse=True)
def _offline_environments() -> Iterator[None]:
    """Executed verification in tests never installs from the network: environments borrow the test
    interpreter's packages (a fake of our own boundary; test_smoke.py also drives real pip, offline)."""
    previous = use_builder(BorrowedSiteBuilder())
    yield
    use_builder(previous)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
