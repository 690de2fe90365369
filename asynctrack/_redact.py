"""``redact(url)``: a URL safe to print, its password replaced by ``***``.

One function for every message and log line that names a tracking URI, an artifact server or a journal's
target (the REST store, the artifact client, the pipeline's exit report, the journal, the CLI). It sits
below all of them and imports nothing of asynctrack.
"""

from __future__ import annotations

import re
import urllib.parse

__all__ = ["redact", "restore_credentials"]

# For text urllib cannot parse (a malformed IPv6 host): everything between "//" and the last "@" of the
# authority is user info.
_USERINFO = re.compile(r"//[^/?#]*@")


def redact(url: str) -> str:
    """``url`` without a password in its user info; the host is kept exactly as written (an IPv6
    literal keeps its brackets, a port its place).

    >>> redact("http://u:p@[::1]:5000/x")
    'http://u:***@[::1]:5000/x'
    >>> redact("https://host/a")
    'https://host/a'
    """
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return _USERINFO.sub("//***@", url, count=1)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def restore_credentials(stored: str, configured: list[str]) -> str:
    """The URI to connect to for ``stored``, a URI written redacted (a journal's target): the first
    ``configured`` URI (the caller's tracking URI) that redacts to it, so its password is used; else
    ``stored`` without the ``***`` placeholder, so the driver's own sources apply (``PGPASSWORD`` or
    ``~/.pgpass`` for PostgreSQL, ``MLFLOW_TRACKING_PASSWORD`` for HTTP). A stored URI with no redacted
    password (an older journal) is returned as is.

    >>> restore_credentials("postgresql://u:***@h/db", ["postgresql://u:pw@h/db"])
    'postgresql://u:pw@h/db'
    >>> restore_credentials("postgresql://u:***@h/db", [])
    'postgresql://u@h/db'
    """
    for uri in configured:
        if uri and redact(uri) == stored:
            return uri
    if ":***@" not in stored:
        return stored
    return stored.replace(":***@", "@", 1)
