"""Which release of a library is installed, for the modules that reach into its internals.

A speed trick that relies on a library's private API checks the release it was tested with
(and the attributes it uses) before taking its own path; otherwise it keeps the library's.
"""

from __future__ import annotations

import importlib.metadata


def installed(distribution: str) -> str | None:
    """The installed version of `distribution`, None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def release_in(version: str, low: tuple[int, int], high: tuple[int, int]) -> bool:
    """Whether `version`'s (major, minor) lies in [low, high); False when it does not parse."""
    try:
        release = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return low <= release < high
