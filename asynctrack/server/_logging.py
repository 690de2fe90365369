"""Run data endpoints: log-metric, log-parameter, set-tag, delete-tag, log-batch, log-inputs.

Metric, param and tag writes are checked here, whole, then go through the process's group-commit writer
(``_writer.py``); each answers only once its data is durable in the backend store.
"""

from __future__ import annotations

import msgspec
import numpy as np

from asynctrack._rest._messages import DeleteTag, Empty, LogBatch, LogInputs, LogMetric, LogParam, SetTag
from asynctrack._rest._wire import dataset_input_from_wire, float_from_wire, int_from_wire
from asynctrack.entities import LifecycleStage, Metric, Param, RunTag
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.server._batch import ParsedBatch, parse_log_batch
from asynctrack.server._model_links import log_model_inputs
from asynctrack.server._model_metrics import link_model_metrics, link_wire_metrics
from asynctrack.server._request import IDEMPOTENCY_KEY, invalid, required
from asynctrack.server._state import ServerState
from asynctrack.store import MetricSeries
from asynctrack.validation import check_metric, check_param, check_run_id, check_tag, check_tag_key

__all__ = ["delete_tag", "log_batch", "log_inputs", "log_metric", "log_param", "set_tag"]

# MLflow's limits on dataset inputs (mlflow/utils/validation.py).
_DATASET_FIELD_LIMITS = (
    ("name", 500),
    ("digest", 36),
    ("source", 65535),
    ("schema", 1048575),
    ("profile", 16777215),
)
_MAX_INPUT_TAG_KEY = 255
_MAX_INPUT_TAG_VALUE = 500


async def log_metric(state: ServerState, msg: LogMetric) -> Empty:
    run_id = check_run_id(required(msg.run_id or msg.run_uuid, "run_id"))
    key = required(msg.key, "key")
    value = float_from_wire(required(msg.value, "value"), "value")
    timestamp = int_from_wire(required(msg.timestamp, "timestamp"), "timestamp")
    step = 0 if msg.step in (None, "") else int_from_wire(msg.step, "step")
    v, ts, st = check_metric(key, value, timestamp, step)
    series = MetricSeries(key, np.array([v], np.float64), np.array([ts], np.int64), np.array([st], np.int64))
    await state.writer.write(ParsedBatch(run_id, [series], [], []))
    if msg.model_id:  # MLflow 3: the point is also the logged model's
        name, digest = msg.dataset_name or None, msg.dataset_digest or None
        if (name is None) != (digest is None):  # MLflow keeps the one given; a link needs both or neither
            name = digest = None
        linked = Metric(key, v, ts, st, msg.model_id, name, digest, run_id)
        await link_model_metrics(state, run_id, [linked])
    return Empty()


async def log_param(state: ServerState, msg: LogParam) -> Empty:
    run_id = check_run_id(required(msg.run_id or msg.run_uuid, "run_id"))
    key, value = check_param(required(msg.key, "key"), msg.value or "")
    await state.writer.write(ParsedBatch(run_id, [], [Param(key, value)], []))
    return Empty()


async def set_tag(state: ServerState, msg: SetTag) -> Empty:
    run_id = check_run_id(required(msg.run_id or msg.run_uuid, "run_id"))
    key, value = check_tag(required(msg.key, "key"), msg.value or "")
    await state.writer.write(ParsedBatch(run_id, [], [], [RunTag(key, value)]))
    return Empty()


async def delete_tag(state: ServerState, msg: DeleteTag) -> Empty:
    run_id = check_run_id(required(msg.run_id, "run_id"))
    key = check_tag_key(required(msg.key, "key"))
    await state.call(lambda: state.store.delete_tag(run_id, key), "delete_tag")
    return Empty()


async def log_batch(state: ServerState, msg: LogBatch) -> Empty:
    batch = parse_log_batch(msg.run_id, msg.metrics, msg.params, msg.tags)
    key = IDEMPOTENCY_KEY.get()
    if key is not None:
        if not key or len(key) > 200:
            raise invalid(f"Idempotency-Key must be 1 to 200 characters, got {len(key)}")
        batch = msgspec.structs.replace(batch, key=key)
    await state.writer.write(batch)
    await link_wire_metrics(state, batch.run_id, msg.metrics)  # MLflow 3: points naming a logged model
    return Empty()


async def log_inputs(state: ServerState, msg: LogInputs) -> Empty:
    """Check a log-inputs request as MLflow does (field lengths and input tags with MLflow's limits; absent
    fields are empty strings, as protobuf gives them to MLflow's store), then store the dataset inputs and
    the model inputs (MLflow 3's logged models); the run must exist and be active."""
    run_id = check_run_id(required(msg.run_id, "run_id"))
    # As MLflow's server (protobuf): an absent dataset, field or tag part is empty, and stored so; lengths
    # are refused with MLflow's words (which name the field, not its place in the request).
    for item in msg.datasets or ():
        dataset = item.dataset
        for field, limit in _DATASET_FIELD_LIMITS:
            text = None if dataset is None else getattr(dataset, field)
            if text is not None and len(text) > limit:
                raise invalid(f"'{field}' exceeds the maximum length of {limit} characters")
        for tag in item.tags or ():
            if tag.key is not None and len(tag.key) > _MAX_INPUT_TAG_KEY:
                raise invalid(f"'key' exceeds the maximum length of {_MAX_INPUT_TAG_KEY} characters")
            if tag.value is not None and len(tag.value) > _MAX_INPUT_TAG_VALUE:
                raise invalid(f"'value' exceeds the maximum length of {_MAX_INPUT_TAG_VALUE} characters")
    inputs = [dataset_input_from_wire(item) for item in msg.datasets or ()]
    store = state.store
    if inputs:
        await state.call(lambda: store.log_inputs(run_id, inputs), "log_inputs")
    if msg.models:
        await log_model_inputs(state, run_id, msg.models)
    if inputs or msg.models:
        return Empty()
    run = await state.call(lambda: store.get_run(run_id), "log_inputs")
    if run.info.lifecycle_stage != LifecycleStage.ACTIVE:
        raise MlflowException(
            f"The run {run_id} must be in the 'active' state. Current state is {run.info.lifecycle_stage}.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return Empty()
