"""Local state is the service user's alone: folders it creates are 0700, files 0600."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_directory(path: Path) -> None:
    """Create `path` and any missing parent with mode 0700 (`mkdir -p` would give parents
    the default mode); folders that exist already keep theirs."""
    for folder in [*reversed(path.parents), path]:
        if not folder.exists():
            folder.mkdir(mode=PRIVATE_DIRECTORY_MODE, exist_ok=True)


def open_private_file(path: Path, flags: int) -> int:
    """os.open creating `path` with mode 0600 (and its folder 0700) if it is missing."""
    make_private_directory(path.parent)
    return os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
