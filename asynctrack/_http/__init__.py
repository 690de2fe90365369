"""HTTP shared by the REST store and the artifact client: configuration from MLflow's variables
(``_config.py``), MLflow's retry policy (``_backoff.py``) and the one retry loop (``_retry.py``), HTTP
failures mapped to ``MlflowException`` (``_errors.py``), and the client settings both use (``_client.py``).

It sits below ``store/`` and ``artifacts/`` and imports neither."""
