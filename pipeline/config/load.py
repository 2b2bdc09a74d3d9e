"""Loading Sensu 1.x configuration: `-c` files and `-d` directories, deep-merged in order.

Files are merged as Sensu 1.x does: objects recurse, arrays concatenate and drop repeated
elements (first occurrence kept), any other value from the later file wins. Every dotted
JSON path remembers the file that last set it, so an error at `checks.cpu.interval` can
name the file it came from. Keys that are not plain words are quoted in paths:
`checks["cpu.user"].interval`, `handlers.default.handlers[2]`.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import secrets
from pipeline.config.discover import Scan
from pipeline.errors import ConfigError, ConfigErrors, path_index, path_key

if TYPE_CHECKING:
    from pipeline.config.settings import Settings
    from pipeline.registry import Registry

#: Where ogi looks without `-c`/`-d`: its own place first, then Sensu's, so a Sensu host needs no flags.
DEFAULT_ROOTS: tuple[str, ...] = ("/etc/ogi", "/etc/sensu")

#: Sensu 1.x's default redaction list; `client.redact` adds to it.
REDACT_KEYS: tuple[str, ...] = secrets.KEYS

_TOKEN = re.compile(r'\.?([A-Za-z_][\w-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def parent_path(path: str) -> str | None:
    """The path one level up (`""` for a top-level key), None for the root or an unparseable path."""
    if not path:
        return None
    last = None
    pos = 0
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if match is None or match.end() == pos:
            # A path written by hand with an odd key: fall back to the last dot or bracket.
            cut = max(path.rfind("."), path.rfind("["))
            return path[:cut] if cut > 0 else ""
        last = match.start()
        pos = match.end()
    return path[:last] if last else ""


def _identity(value: Any) -> Any:
    """What makes two JSON values the same for Sensu's `uniq`: 1, 1.0 and true differ; key order does not."""
    if isinstance(value, str | int | float | bool) or value is None:
        return (type(value), value)
    return json.dumps(value, sort_keys=True, default=repr)


def _unique_concat(a: list[Any], b: list[Any]) -> tuple[list[Any], list[int]]:
    """uniq(a + b), and for each result position the index in a+b it came from."""
    try:
        # Fast path for the usual case, a list of plain values with no repeats merged again and again.
        seen: set[Any] = set(zip(map(type, a), a, strict=True))
    except TypeError:
        seen = set()
    if len(seen) == len(a):
        out, sources, start, rest = list(a), list(range(len(a))), len(a), b
    else:
        seen, out, sources, start, rest = set(), [], [], 0, a + b
    for i, item in enumerate(rest, start):
        key = _identity(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
            sources.append(i)
    return out, sources


def deep_merge(a: Any, b: Any) -> Any:
    """Sensu 1.x merge of `b` over `a`; neither argument is modified."""
    return _merge(copy.deepcopy(a), copy.deepcopy(b), "", "", None)


def _record(value: Any, path: str, origin: str, origins: dict[str, str]) -> None:
    origins[path] = origin
    if isinstance(value, dict):
        for key, sub in value.items():
            _record(sub, path_key(path, key), origin, origins)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            _record(sub, path_index(path, i), origin, origins)


def _forget(value: Any, path: str, origins: dict[str, str]) -> None:
    """Drop the origins of everything below `path`, walking the value that was there."""
    if isinstance(value, dict):
        for key, sub in value.items():
            sub_path = path_key(path, key)
            origins.pop(sub_path, None)
            _forget(sub, sub_path, origins)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            sub_path = path_index(path, i)
            origins.pop(sub_path, None)
            _forget(sub, sub_path, origins)


def _merge(a: Any, b: Any, path: str, origin: str, origins: dict[str, str] | None) -> Any:
    """Merge `b` over `a`, reusing (and changing) `a`'s objects; callers pass values they own."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key, value in b.items():
            sub = path_key(path, key)
            if key in a:
                a[key] = _merge(a[key], value, sub, origin, origins)
            else:
                a[key] = value
                if origins is not None:
                    _record(value, sub, origin, origins)
        if origins is not None:
            origins[path] = origin
        return a
    if isinstance(a, list) and isinstance(b, list):
        merged, sources = _unique_concat(a, b)
        if origins is not None:
            kept = len(a)
            if sources[:kept] != list(range(kept)):
                # `a` held repeats, so its elements moved: re-home them under their new indexes.
                old = [origins.get(path_index(path, i), origin) for i in range(kept)]
                _forget(a, path, origins)
                kept = 0
                for pos, src in enumerate(sources):
                    if src < len(a):
                        _record(merged[pos], path_index(path, pos), old[src], origins)
                        kept = pos + 1
            for pos in range(kept, len(merged)):
                _record(merged[pos], path_index(path, pos), origin, origins)
            origins[path] = origin
        return merged
    if origins is not None:
        _forget(a, path, origins)
        _record(b, path, origin, origins)
    return b


@dataclass
class LoadedConfig:
    """Merged settings, the file that last set each dotted path, and the files read in order.

    `typed` is set by `load_settings` once the configuration passed validation: what daemons read.
    """

    settings: dict[str, Any]
    origins: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    typed: Settings | None = None

    def file_for(self, path: str) -> str | None:
        """The file that last set `path`, or its nearest ancestor path."""
        current: str | None = path
        while current is not None:
            if current in self.origins and current != "":
                return self.origins[current]
            current = parent_path(current)
        return None


def split_list(values: Iterable[str] | None) -> list[str]:
    """Flatten repeatable, comma-separated option values: `-d a,b -d c` -> [a, b, c]."""
    out: list[str] = []
    for value in values or ():
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def directory_files(directory: str) -> list[str]:
    """`DIR/**/*.json`, recursively, sorted by path components; hidden files are skipped as Sensu's
    glob does; each real file once (pipeline.config.discover)."""
    return Scan().directory(directory)


def _read_json(file: str) -> tuple[Any, ConfigError | None]:
    try:
        raw = Path(file).read_bytes()
    except FileNotFoundError:
        return None, ConfigError("", "config file does not exist", file=file)
    except IsADirectoryError:
        return None, ConfigError("", "config file is a directory (use -d for directories)", file=file)
    except OSError as exc:
        return None, ConfigError("", f"config file cannot be read: {exc.strerror or exc}", file=file)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, ConfigError("", f"config file is not UTF-8 (byte {exc.start})", file=file)
    if not text.strip():
        # sensu-settings reads an empty or whitespace-only file as {} (Sensu 1.9 accepted it).
        return {}, None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, ConfigError(
            "", f"config file must be valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", file=file
        )
    if not isinstance(data, dict):
        return None, ConfigError("", "config file must hold a JSON object at the top level", data, file=file)
    return data, None


def env_settings(env: Mapping[str, str]) -> tuple[list[tuple[str, dict[str, Any]]], list[ConfigError]]:
    """Settings from Sensu's environment variables, each as (origin, fragment) to merge."""
    layers: list[tuple[str, dict[str, Any]]] = []
    errors: list[ConfigError] = []
    if env.get("SENSU_TRANSPORT_NAME"):
        layers.append(("environment SENSU_TRANSPORT_NAME", {"transport": {"name": env["SENSU_TRANSPORT_NAME"]}}))
    for var, key in (("RABBITMQ_URL", "rabbitmq"), ("REDIS_URL", "redis")):
        if env.get(var):
            layers.append((f"environment {var}", {key: {"url": env[var]}}))
    client: dict[str, Any] = {}
    if env.get("SENSU_CLIENT_NAME"):
        client["name"] = env["SENSU_CLIENT_NAME"]
    if env.get("SENSU_CLIENT_ADDRESS"):
        client["address"] = env["SENSU_CLIENT_ADDRESS"]
    if env.get("SENSU_CLIENT_SUBSCRIPTIONS"):
        client["subscriptions"] = split_list([env["SENSU_CLIENT_SUBSCRIPTIONS"]])
    if client:
        layers.append(("environment SENSU_CLIENT_*", {"client": client}))
    for var in ("SENSU_API_PORT", "OGI_API_PORT"):  # ogi's own name wins when both are set
        if env.get(var):
            origin = f"environment {var}"
            try:
                layers.append((origin, {"api": {"port": int(env[var])}}))
            except ValueError:
                errors.append(ConfigError("api.port", "must be an integer port number", env[var], file=origin))
    return layers, errors


def default_sources(roots: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
    """`ROOT/config.json` and `ROOT/conf.d` of the first root that has either; only existing ones."""
    for root in DEFAULT_ROOTS if roots is None else roots:
        file, directory = os.path.join(root, "config.json"), os.path.join(root, "conf.d")
        files = [file] if os.path.isfile(file) else []
        dirs = [directory] if os.path.isdir(directory) else []
        if files or dirs:
            return files, dirs
    return [], []


def load_config(
    config_files: list[str], config_dirs: list[str], env: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Read and merge files then directories; raise ConfigErrors naming every unreadable or bad file.

    Environment variables form the base layer, as in Sensu: a file setting the same key wins.
    """
    errors: list[ConfigError] = []
    layers, env_errors = env_settings(os.environ if env is None else env)
    errors.extend(env_errors)

    sources = split_list(config_files)
    scan = Scan()
    scan.files.update(os.path.realpath(file) for file in sources)
    for directory in split_list(config_dirs):
        if not os.path.isdir(directory):
            reason = "does not exist" if not os.path.exists(directory) else "is not a directory"
            errors.append(ConfigError("", f"config directory {reason}", file=directory))
        elif not os.access(directory, os.R_OK | os.X_OK):
            errors.append(ConfigError("", "config directory cannot be read (permissions)", file=directory))
        else:
            sources.extend(scan.directory(directory))
    errors.extend(scan.errors)

    settings: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for origin, fragment in layers:
        settings = _merge(settings, fragment, "", origin, origins)
    loaded: list[str] = []
    for file in sources:
        data, error = _read_json(file)
        if error is not None:
            errors.append(error)
            continue
        settings = _merge(settings, data, "", file, origins)
        loaded.append(file)
    if errors:
        raise ConfigErrors(errors)
    origins.pop("", None)
    return LoadedConfig(settings, origins, loaded)


def redact(settings: Any, extra_keys: Iterable[str] = (), keep: Iterable[str] = ()) -> Any:
    """Deep copy with secrets replaced by "REDACTED" (pipeline.secrets), the client's `redact` keys included."""
    keys = list(extra_keys)
    client = settings.get("client") if isinstance(settings, dict) else None
    if isinstance(client, dict) and isinstance(client.get("redact"), list):
        keys += [k for k in client["redact"] if isinstance(k, str)]
    return secrets.redact(settings, keys, keep)


def load_settings(
    files: list[str], dirs: list[str], registry: Registry | None = None, env: Mapping[str, str] | None = None,
    role: str = "server",
) -> tuple[LoadedConfig, list[str]]:
    """Load and validate in one pass; return (config with `typed` set, warnings) or raise every error with its file.

    Without files or directories the defaults apply (`/etc/ogi/...`, else `/etc/sensu/...`).
    `role` is who reads it (`pipeline.config.validate.ROLES`): a `client` does not resolve handler names.
    """
    # Imported here, not at the top: validation imports this module's path helpers.
    from pipeline.config.validate import check
    from pipeline.registry import default_registry

    if registry is None:
        registry = default_registry
    files, dirs = split_list(files), split_list(dirs)
    warnings: list[str] = []
    if not files and not dirs:
        files, dirs = default_sources()
        if not files and not dirs:
            warnings.append(
                "no configuration found in "
                + " or ".join(f"{r}/config.json, {r}/conf.d" for r in DEFAULT_ROOTS)
                + "; use -c FILE or -d DIR"
            )
    loaded = load_config(files, dirs, env)
    typed, errors, more = check(loaded.settings, registry, role)
    errors[:0] = registry.errors()  # clashing installed types: not in any file, but refused like one
    warnings.extend(more)
    if typed is None or errors:
        for error in errors:
            if error.file is None:
                error.file = loaded.file_for(error.path)
        raise ConfigErrors(errors)
    loaded.typed = typed
    return loaded, warnings



def settings_of(raw: dict[str, Any]) -> Settings:
    """Typed settings from a dict (tests, benches, embedding): every section goes through the
    parser the daemons use (ConfigErrors when one is wrong); definitions are taken as written,
    without the cross-checks of `load_settings`' pass, so a test may give a partial check."""
    from pipeline.config.settings import build_settings

    return build_settings(raw)
