"""What the browser tests share beyond fixtures: the seeded server's handle."""

from __future__ import annotations

from pathlib import Path

from servers import ServerProcess
from ui_seed import Seeded


class UI:
    """The seeded server: its URL, what was seeded, the data directory."""

    def __init__(self, server: ServerProcess, seeded: Seeded, root: Path) -> None:
        self.server = server
        self.url = server.url
        self.seeded = seeded
        self.root = root

    def run_url(self, run_id: str, query: str = "") -> str:
        return f"{self.url}/#/experiments/{self.seeded.experiment_id}/runs/{run_id}{query}"
