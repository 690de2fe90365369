"""PyTorch Lightning (the ``lightning`` package, 2.x): :class:`AsynctrackLogger`.

::

    import lightning as L
    from asynctrack.integrations.lightning import AsynctrackLogger

    trainer = L.Trainer(max_epochs=3, logger=AsynctrackLogger(experiment_name="mnist", log_model=True))
    trainer.fit(model, train_loader)
"""

from __future__ import annotations

from asynctrack.integrations._lightning import logger_class
from asynctrack.integrations._require import require

__all__ = ["AsynctrackLogger"]

AsynctrackLogger = logger_class(
    require("lightning.pytorch", "lightning", "asynctrack.integrations.lightning")
)
