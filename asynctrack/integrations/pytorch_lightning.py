"""PyTorch Lightning under its older package name, ``pytorch_lightning`` (2.x): :class:`AsynctrackLogger`.

The same logger as :mod:`asynctrack.integrations.lightning`, built on ``pytorch_lightning``'s own ``Logger``
base class (the two packages' classes are distinct, and each Trainer checks for its own)::

    import pytorch_lightning as pl
    from asynctrack.integrations.pytorch_lightning import AsynctrackLogger

    pl.Trainer(max_epochs=3, logger=AsynctrackLogger()).fit(model, train_loader)
"""

from __future__ import annotations

from asynctrack.integrations._lightning import logger_class
from asynctrack.integrations._require import require

__all__ = ["AsynctrackLogger"]

AsynctrackLogger = logger_class(
    require("pytorch_lightning", "lightning", "asynctrack.integrations.pytorch_lightning")
)
