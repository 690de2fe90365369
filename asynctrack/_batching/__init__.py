"""The operations' format, shared by the pipeline and the journal and below both: ``_ops.py`` (queued
operations and their encodings) and ``_batch.py`` (a chunk coalesced into per-run batches within a store's
limits). The journal records batches; the pipeline makes and ships them."""
