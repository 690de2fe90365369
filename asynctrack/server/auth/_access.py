"""A user's permission on experiments, runs, artifact paths and registered models, resolved against both
stores.

The grant in the auth store for (user, experiment), else the server's default permission; admins have
``MANAGE`` everywhere. Experiment ids are compared in the form the tracking store reads them (``int()``
of the text: ``"01"``, ``" 1"`` and ``"1"`` name one experiment there, so they must name one here). A run is
judged by its experiment; a run that does not exist is refused rather than reported missing (MLflow's
rule: answers must not reveal which run ids exist). An artifact path ``<experiment_id>/...`` is judged by
that experiment, any other path by the default permission, as MLflow's auth app does.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable

from asynctrack._int64 import INT64_RANGE as _INT64
from asynctrack.artifacts._paths import check_path
from asynctrack.exceptions import RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.server._state import ServerState
from asynctrack.server.auth._permissions import MANAGE, Capability, Permission, get_permission
from asynctrack.server.auth._store import AuthStore, User
from asynctrack.store._logged_model_protocol import LoggedModelStore

__all__ = ["Access", "canonical_experiment_id"]

#: Runs whose experiment a worker remembers: a run never moves to another experiment, so the mapping
#: cannot go stale (a deleted run is still judged by its experiment, as MLflow does).
RUN_CACHE_SIZE = 100_000
_DIGITS = re.compile(r"^[0-9]+$")


def canonical_experiment_id(experiment_id: str) -> str:
    """The experiment id as the tracking store will read it (its integer, as text), or unchanged when it
    is not one (the store then refuses it)."""
    try:
        n = int(experiment_id)
    except (TypeError, ValueError):
        return experiment_id
    return str(n) if _INT64[0] <= n <= _INT64[1] else experiment_id


class Access:
    """Permission checks for one server process (``server`` is bound on the first request)."""

    def __init__(self, store: AuthStore, default_permission: Permission) -> None:
        self.store = store
        self.default = default_permission
        self.server: ServerState | None = None
        self._run_experiments: collections.OrderedDict[str, str] = collections.OrderedDict()

    def _tracking(self) -> ServerState:
        if self.server is None:
            raise MlflowException(
                "The tracking store is not open (--artifacts-only?)", error_code=RESOURCE_DOES_NOT_EXIST
            )
        return self.server

    async def permission(self, user: User, experiment_id: str) -> Permission:
        if user.is_admin:
            return MANAGE
        name = await self.store.get_permission(user.id, canonical_experiment_id(experiment_id))
        return self.default if name is None else get_permission(name)

    async def can(self, user: User, experiment_id: str, capability: Capability) -> bool:
        return (await self.permission(user, experiment_id)).allows(capability)

    async def readable(self, user: User, experiment_ids: list[str]) -> set[str]:
        """The ids among ``experiment_ids`` the user may read (one query for all of them)."""
        if user.is_admin:
            return set(experiment_ids)
        canon = {e: canonical_experiment_id(e) for e in experiment_ids}
        grants = await self.store.get_permissions(user.id, sorted(set(canon.values())))
        out = set()
        for original, key in canon.items():
            name = grants.get(key)
            if (self.default if name is None else get_permission(name)).can_read:
                out.add(original)
        return out

    async def can_all(self, user: User, experiment_ids: list[str], capability: Capability) -> bool:
        if capability == "can_read":
            return len(await self.readable(user, experiment_ids)) == len(set(experiment_ids))
        for experiment_id in experiment_ids:
            if not await self.can(user, experiment_id, capability):
                return False
        return True

    # -- registered models (MLflow's grants by model name; a model with no grant for the user, or no such
    # model, is judged by the default permission, as MLflow's ``_get_permission_from_registered_model_name``)

    async def model_permission(self, user: User, name: str) -> Permission:
        if user.is_admin:
            return MANAGE
        found = await self.store.get_model_permission(user.id, name)
        return self.default if found is None else get_permission(found)

    async def can_model(self, user: User, name: str, capability: Capability) -> bool:
        return (await self.model_permission(user, name)).allows(capability)

    async def model_reader(self, user: User) -> Callable[[str], bool]:
        """Whether the user may read a model, by name, from one read of their grants (for searches)."""
        if user.is_admin:
            return lambda name: True
        grants = {
            name: get_permission(p).can_read
            for name, p in (await self.store.list_model_permissions(user.username)).items()
        }
        default = self.default.can_read
        return lambda name: grants.get(name, default)

    async def run_experiment(self, run_id: str) -> str | None:
        """The run's experiment id, or None when there is no such run."""
        known = self._run_experiments.get(run_id)
        if known is not None:
            self._run_experiments.move_to_end(run_id)
            return known
        server = self._tracking()
        try:
            run = await server.call(lambda: server.store.get_run(run_id), "get_run")
        except MlflowException as exc:
            if exc.error_code == RESOURCE_DOES_NOT_EXIST:
                return None
            raise
        self._run_experiments[run_id] = run.info.experiment_id
        while len(self._run_experiments) > RUN_CACHE_SIZE:
            self._run_experiments.popitem(last=False)
        return run.info.experiment_id

    async def can_run(self, user: User, run_id: str, capability: Capability) -> bool:
        if user.is_admin:
            return True
        experiment_id = await self.run_experiment(run_id)
        return experiment_id is not None and await self.can(user, experiment_id, capability)

    async def can_logged_model(self, user: User, model_id: str, capability: Capability) -> bool:
        """Capability on the logged model's experiment; a missing model is refused (no existence leak)."""
        if user.is_admin:
            return True
        server = self._tracking()
        store = server.store
        if not isinstance(store, LoggedModelStore) or not model_id:
            return False
        try:
            model = await server.call(lambda: store.get_logged_model(model_id, True), "get_logged_model")
        except MlflowException:
            return False
        return await self.can(user, model.experiment_id, capability)

    async def can_runs(self, user: User, run_ids: list[str], capability: Capability) -> bool:
        for run_id in dict.fromkeys(run_ids):
            if not await self.can_run(user, run_id, capability):
                return False
        return True

    async def experiment_id_by_name(self, name: str) -> str:
        server = self._tracking()
        found = await server.call(lambda: server.store.get_experiment_by_name(name), "get_experiment_by_name")
        if found is None:
            raise MlflowException(
                f"Could not find experiment with name {name}", error_code=RESOURCE_DOES_NOT_EXIST
            )
        return found.experiment_id

    async def can_artifact(self, user: User, path: str, capability: Capability) -> bool:
        """The path checked as the artifact endpoints check it (INVALID_PARAMETER_VALUE when bad), then
        judged by the experiment its first segment names, or by the default permission."""
        canonical = check_path(path) if path else ""
        first = canonical.split("/", 1)[0]
        if _DIGITS.match(first):
            return await self.can(user, first, capability)
        return user.is_admin or self.default.allows(capability)
