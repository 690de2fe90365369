"""Authentication and per-experiment and per-model permissions for ``asynctrack server --auth`` (MLflow's
basic-auth semantics; see docs/security.md, "Authentication").

=================  ====================================================================================
``_permissions``    READ / USE / EDIT / MANAGE / NO_PERMISSIONS and their capabilities
``_secrets``        scrypt password hashes, API tokens, session tokens
``_store``          the users/tokens/sessions/permissions store (:class:`AuthStore`; SQLite file)
``_authn``          who is asking: basic, bearer, session cookie (with a verified-credentials cache)
``_access``         a user's permission on an experiment, a run, an artifact path, a registered model
``_policy``         the rule of every route (coverage checked when the app is built)
``_middleware``     the ASGI middleware enforcing the rules; MLflow's 401 and 403
``_filters``        searches filtered to readable experiments; creators get MANAGE
``_model_filters``  the registry's: model/version searches filtered, creators' MANAGE, renames, deletes
``_endpoints``      MLflow's user-management REST API
``_session``        the UI's login page, session cookie and CSRF token
``_bootstrap``      opening the store, the initial admin
=================  ====================================================================================
"""

from __future__ import annotations

from asynctrack.server.auth._bootstrap import (
    AuthSetup,
    auth_db_path,
    bootstrap_admin,
    build_auth,
    open_auth_store,
)
from asynctrack.server.auth._permissions import ALL_PERMISSIONS, Permission, get_permission
from asynctrack.server.auth._store import AuthStore, SqliteAuthStore, Token, User

__all__ = [
    "ALL_PERMISSIONS",
    "AuthSetup",
    "AuthStore",
    "Permission",
    "SqliteAuthStore",
    "Token",
    "User",
    "auth_db_path",
    "bootstrap_admin",
    "build_auth",
    "get_permission",
    "open_auth_store",
]
