"""A tiny Lightning model and a recording logger, built for either package (``lightning.pytorch`` or
``pytorch_lightning``). The recorder is a real Lightning ``Logger`` that keeps every call the Trainer
makes, so a test compares what asynctrack stored with exactly what Lightning handed to its loggers."""

from __future__ import annotations

from typing import Any


def build(pl: Any) -> tuple[type, type]:
    import torch
    from torch import nn

    class Recorder(pl.loggers.Logger):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.metrics: list[tuple[dict[str, float], int]] = []
            self.params: dict[str, Any] = {}
            self.statuses: list[str] = []

        @property
        def name(self) -> str:
            return "recorder"

        @property
        def version(self) -> str:
            return "0"

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            self.params.update(params)

        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            self.metrics.append((dict(metrics), int(step or 0)))

        def finalize(self, status: str) -> None:
            self.statuses.append(status)

    class TinyRegression(pl.LightningModule):  # type: ignore[misc]
        def __init__(self, lr: float = 0.05, hidden: int = 8, fail_at_step: int = -1, **extra: Any) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 1))

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if self.global_step == self.hparams.fail_at_step:
                raise RuntimeError("a failing training step")
            x, y = batch
            loss = nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss)
            self.log("weight_norm", self.net[0].weight.norm())
            self.log("epoch_loss", loss, on_step=False, on_epoch=True)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    return Recorder, TinyRegression


def loader(n: int = 64, batch: int = 16) -> Any:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=batch, num_workers=0)
