"""Finding the `*.json` files of a config directory: recursively, following directory symlinks
as Sensu's glob did, but each real directory walked once and each real file read once.

A symlink back to a directory being walked is a loop: the walk does not enter it and reports a
ConfigError naming the link and where it points (two such links once made one `check-config`
grow to 23 GB). Hidden files and directories are skipped, as the glob skipped them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.errors import ConfigError


class Scan:
    """The real paths already walked and read, shared by every `-d` directory of one load."""

    def __init__(self) -> None:
        self.directories: set[str] = set()
        self.files: set[str] = set()
        self.errors: list[ConfigError] = []

    def directory(self, root: str) -> list[str]:
        """The JSON files under `root` not read yet, sorted by path components below `root`."""
        found: list[str] = []
        self._walk(root, (), found)
        return sorted(found, key=lambda p: Path(p).relative_to(root).parts)

    def _walk(self, path: str, ancestors: tuple[str, ...], found: list[str]) -> None:
        real = os.path.realpath(path)
        if real in ancestors:
            self.errors.append(ConfigError(
                "", f"config directory has a symlink loop: {path} points back to {real}, which contains it",
                file=path))
            return
        if real in self.directories:
            return  # the same directory through another link: its files are read already
        self.directories.add(real)
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            self.errors.append(ConfigError("", f"config directory cannot be read: {exc.strerror or exc}", file=path))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError:
                continue
            if is_dir:
                self._walk(entry.path, (*ancestors, real), found)
            elif is_file and entry.name.endswith(".json"):
                real_file = os.path.realpath(entry.path)
                if real_file not in self.files:
                    self.files.add(real_file)
                    found.append(entry.path)
