"""``python -m asynctrack``: the same as the ``asynctrack`` command."""

from __future__ import annotations

import sys

from asynctrack.cli._main import main

sys.exit(main())
