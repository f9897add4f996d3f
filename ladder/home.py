"""Where ladder keeps what it makes: joined models, indexes, adapters, the run store."""
from __future__ import annotations

import os
from pathlib import Path


def ladder_home() -> Path:
    """$LADDER_HOME, default ~/.cache/ladder."""
    return Path(os.environ.get("LADDER_HOME", "~/.cache/ladder")).expanduser()
