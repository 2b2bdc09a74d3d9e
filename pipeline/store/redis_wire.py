"""One pipeline on the wire: commands packed as RESP by hand, replies read in one loop.

redis-py's pipeline costs more per command than Redis itself does at the rates a server
handles results: every argument goes through its encoder, every reply through a read with its
own timeout context. `exchange` packs the commands of a batch into one buffer (with hiredis's
packer where it is installed, as redis-py does), sends it on a connection of the client's pool
(so TLS, AUTH, SELECT, sentinels and health checks stay redis-py's) and, where the connection
parses with hiredis, takes the replies straight from the hiredis reader under one timeout.
Replies then go through redis-py's response callbacks, so callers see what
`client.execute_command` would have given them (a dict for HGETALL, a set for SMEMBERS); an
error reply comes back in place as an exception instance, as a pipeline run with
`raise_on_error=False` gives it.

Measured (commit 37acbea): the result processor alone over the real Redis, 100 results in
flight, a handler that does nothing: 168 -> 105-122 us of CPU per metric result, against
redis-py's own pipeline (docs/redis.md, "Round trips").

It reads redis-py's connection internals (`_parser._reader`, `read_from_socket`,
`send_packed_command`, `response_callbacks`): tested with redis-py 5.3 to 8.2
(pyproject.toml pins `redis<8.3`). On any other redis-py, or when those internals are not
there, `exchange` sends the batch through redis-py's own pipeline instead (`hand_packed` is
False) and says so once in the log; the replies are the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
import redis.asyncio.connection as rconn
from redis import exceptions as rexc

from pipeline.libversions import installed, release_in

try:  # hiredis's "give me more bytes" marker, as redis-py configures its reader
    from redis._parsers.hiredis import NOT_ENOUGH_DATA
except ImportError:  # pragma: no cover - a redis-py without it reads through read_response
    NOT_ENOUGH_DATA = None

Command = tuple[Any, ...]

_pack_command: Callable[[Command], bytes] | None
try:
    from hiredis import pack_command as _pack_command
except ImportError:  # pragma: no cover - without hiredis, commands are packed in Python
    _pack_command = None

_HIREDIS_TYPES = frozenset((str, bytes, int, float))


def encode(arg: Any) -> bytes:
    """An argument as Redis receives it (the same rules as redis-py's encoder)."""
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode("utf-8")
    if isinstance(arg, int | float) and not isinstance(arg, bool):
        return repr(arg).encode()
    if isinstance(arg, bytearray | memoryview):
        return bytes(arg)
    raise rexc.DataError(f"cannot send a {type(arg).__name__} to Redis: {arg!r}")


def _pack_in_python(command: Command) -> bytes:
    parts = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = encode(arg)
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


def pack(commands: Sequence[Command]) -> bytes:
    """The RESP request for `commands`, in order."""
    parts: list[bytes] = []
    for command in commands:
        # hiredis packs a command several times faster than Python does, but it would take a
        # bool for an int and refuses bytearrays: only commands of plain types go to it.
        if _pack_command is not None and _HIREDIS_TYPES.issuperset(map(type, command)):
            parts.append(_pack_command(command))
        else:
            parts.append(_pack_in_python(command))
    return b"".join(parts)


# Two-word commands (SCRIPT LOAD) have their callback under both words.
_TWO_WORDS = frozenset(("SCRIPT", "CLIENT", "CONFIG", "MEMORY"))
# Command words as given -> their callback name: a reply per result looks its callback up.
_NAMES: dict[str | bytes, str] = {}


def _name(command: Command) -> str:
    first = command[0]
    known = _NAMES.get(first)
    if known is not None:
        return known
    name = (first.decode() if isinstance(first, bytes) else str(first)).upper()
    if name in _TWO_WORDS and len(command) > 1:
        second = command[1]
        return f"{name} {second.decode() if isinstance(second, bytes) else second}".upper()
    if name not in _TWO_WORDS and len(_NAMES) < 1024:
        _NAMES[first] = name
    return name


def _apply_callbacks(client: aioredis.Redis, commands: Sequence[Command], replies: list[Any]) -> list[Any]:
    callbacks = client.response_callbacks
    for i, (command, reply) in enumerate(zip(commands, replies, strict=True)):
        if isinstance(reply, Exception):
            continue
        callback = callbacks.get(_name(command))
        if callback is not None:
            replies[i] = callback(reply)
    return replies


async def _read(connection: Any, count: int, timeout: float) -> list[Any]:
    parser: Any = getattr(connection, "_parser", None)
    reader = getattr(parser, "_reader", None)
    replies: list[Any] = []
    if NOT_ENOUGH_DATA is not None and reader is not None and hasattr(parser, "read_from_socket"):
        gets = reader.gets
        async with asyncio.timeout(timeout):
            while len(replies) < count:
                reply = gets()
                if reply is NOT_ENOUGH_DATA:
                    await parser.read_from_socket()
                    continue
                replies.append(reply)
        return replies
    for _ in range(count):  # the pure-Python parser: one read per reply
        try:
            replies.append(await connection.read_response())
        except rexc.ResponseError as error:
            replies.append(error)
    return replies


#: The redis-py releases (major, minor) whose internals this module was tested with: [low, high).
TESTED_REDIS = ((5, 3), (8, 3))
log = logging.getLogger("ogi")


def supported(version: str | None = None) -> bool:
    """Whether the installed redis-py is one this module was tested with, its internals as expected."""
    version = version if version is not None else installed("redis")
    if version is None or not release_in(version, *TESTED_REDIS):
        return False
    connection = getattr(rconn, "AbstractConnection", None)
    return (connection is not None
            and hasattr(connection, "send_packed_command") and hasattr(connection, "read_response")
            and hasattr(aioredis.Redis, "pipeline") and hasattr(aioredis.ConnectionPool, "get_connection"))


#: True: batches are packed here and read from the hiredis reader; False: redis-py's pipeline.
hand_packed = supported()
if not hand_packed:
    log.warning("redis-py is not a version the hand-packed pipelines were tested with; using redis-py's own",
                extra={"fields": {"tested": f"{TESTED_REDIS[0]} to {TESTED_REDIS[1]} (exclusive)"}})


async def exchange(client: aioredis.Redis, commands: Sequence[Command], timeout: float) -> list[Any]:
    """Send `commands` as one pipeline and return their replies (error replies in place).

    A connection the server dropped (a restart) is replaced once, as redis-py's own retry
    does; other failures raise redis-py's exceptions (ConnectionError, TimeoutError).
    """
    if not hand_packed:
        return await library_exchange(client, commands, timeout)
    packed = pack(commands)
    pool = client.connection_pool
    for attempt in (1, 2):
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command(packed)
            replies = await _read(connection, len(commands), timeout)
        except (rexc.ConnectionError, ConnectionError, OSError) as error:
            await connection.disconnect()
            if attempt == 2:
                raise rexc.ConnectionError(str(error) or type(error).__name__) from error
            continue
        except BaseException:
            # A read cut short (a timeout, a cancellation) leaves replies on the socket.
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)
        return _apply_callbacks(client, commands, replies)
    raise AssertionError("unreachable")


async def library_exchange(client: aioredis.Redis, commands: Sequence[Command], timeout: float) -> list[Any]:
    """What `exchange` does, through redis-py's own pipeline (no transaction, errors in place)."""
    async with client.pipeline(transaction=False) as pipe:
        for command in commands:
            pipe.execute_command(*command)
        async with asyncio.timeout(timeout):
            return list(await pipe.execute(raise_on_error=False))
