"""MLflow 3: metric points a log-metric or log-batch request links to a logged model (``model_id``),
linked once the run's part is written. Kept apart from ``_logged_models.py`` (the model endpoints) so the
logging endpoints need nothing of the routing."""

from __future__ import annotations

from collections.abc import Sequence

from asynctrack._rest._wire import MetricJ, metric_from_wire
from asynctrack.entities import Metric
from asynctrack.exceptions import MlflowException
from asynctrack.server._state import ServerState
from asynctrack.store._logged_model_protocol import LoggedModelStore

__all__ = ["link_model_metrics", "link_wire_metrics"]


async def link_model_metrics(state: ServerState, run_id: str, metrics: Sequence[Metric]) -> None:
    store = state.store
    if not isinstance(store, LoggedModelStore):
        raise MlflowException(
            "This server's backend store keeps no MLflow 3 logged models.", error_code="ENDPOINT_NOT_FOUND"
        )
    await state.call(lambda: store.link_model_metrics(run_id, metrics), "link_model_metrics")


async def link_wire_metrics(state: ServerState, run_id: str, metrics: Sequence[MetricJ] | None) -> None:
    """After a log-batch wrote the run's points: link those naming a ``model_id``."""
    linked = [metric_from_wire(m) for m in metrics or () if m.model_id]
    if linked:
        await link_model_metrics(state, run_id, linked)
