"""What Sensu 1.x's daemons tell every child process about the configuration they loaded.

Sensu sets, for each check, hook, pipe handler and mutator it starts:
- `SENSU_LOADED_TEMPFILE`: a file holding the loaded configuration files joined by `:`;
- `SENSU_CONFIG_FILES`: the same list, in the variable itself.
Handlers written with `sensu-plugin` (Ruby or Python) read their settings (`mailer`, `slack`,
...) from those files, so without them they see empty settings. ogi's daemons export both into
their own environment, which every command inherits (`pipeline/agent/process/execute.py`
`command_env`), and rewrite them on SIGHUP when the list of files changed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

LOADED_TEMPFILE = "SENSU_LOADED_TEMPFILE"
CONFIG_FILES = "SENSU_CONFIG_FILES"
#: The service this process exported for (`server`, `client`, `api`, `run`), once it has.
_exported: list[str] = []


def loaded_tempfile_path(service: str) -> str:
    """Where the list is written: per service and per user, in the temp directory, as Sensu's."""
    return os.path.join(tempfile.gettempdir(), f"ogi_{service}_{os.getuid()}_loaded_files")


def export_loaded_files(files: Sequence[str], service: str) -> str:
    """Write the list of loaded files and point both variables at it; returns the file's path.

    Written to a new file then renamed over the old one, so a child reading it during a
    reload sees the old list or the new one, never half of one.
    """
    listing = ":".join(os.path.abspath(f) for f in files)
    path = loaded_tempfile_path(service)
    fd, partial = tempfile.mkstemp(prefix=os.path.basename(path) + ".", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w") as out:
            out.write(listing)
        os.chmod(partial, 0o644)  # children may run as other users (sudo in a check)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    os.environ[LOADED_TEMPFILE] = path
    os.environ[CONFIG_FILES] = listing
    _exported[:] = [service]
    return path


def reexport_loaded_files(files: Sequence[str]) -> None:
    """After a reload: the new list, for the service exported at start (nothing if none was)."""
    if _exported:
        export_loaded_files(files, _exported[0])
