import pytest

from tests.crashes.peerlogs import PeerLogs


@pytest.fixture
def peer_logs(tmp_path, monkeypatch):
    """The peers' kernel logs, answered by the agent's own reading of them whenever the
    console asks a host for its peer logs (tests/crashes/peerlogs.py)."""
    import clusters.agents

    logs = PeerLogs(tmp_path / "peers")
    monkeypatch.setattr(clusters.agents, "TRANSPORT", logs)
    return logs
