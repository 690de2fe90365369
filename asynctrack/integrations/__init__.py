"""Training-library integrations, each in its own module and imported only when used (each library is
an optional extra):

- :mod:`~asynctrack.integrations.lightning` and :mod:`~asynctrack.integrations.pytorch_lightning`: a
  Lightning ``Logger``;
- :mod:`~asynctrack.integrations.transformers`: a Hugging Face ``TrainerCallback``;
- :mod:`~asynctrack.integrations.keras`: a Keras 3 callback.

``asynctrack.autolog()`` installs them for the libraries present. See docs/integrations.md.
"""

from __future__ import annotations

__all__: list[str] = []
