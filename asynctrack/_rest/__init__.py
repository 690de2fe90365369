"""MLflow's REST API 2.0 dialect, shared by the REST store and the tracking server.

``_wire`` holds the entity shapes and their conversion to asynctrack's entities; ``_messages`` the request
and response body of each endpoint. Private: the public faces are ``asynctrack server`` and ``http://``
tracking URIs.
"""
