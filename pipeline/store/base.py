"""The `Store` seam: monitoring state, spoken in monitoring terms.

`store/memory.py` (the embedded default) and `store/redis.py` (Sensu 1.x's key layout)
implement it; the contract tests run one suite against both. Clients, results, events and
silences are Sensu-shaped JSON dicts. Nothing outside `store/` knows about keys.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pipeline.model import JSON, Check, Client, Event

#: Sensu's task lock goes stale this long after its last refresh (docs/redis.md "Task election").
TASK_LOCK_STALE = 30.0
#: The value of `client:<name>:signature` after an API delete with `invalidate=true`: it
#: matches no signature, so the client's keepalives (and, once it is deleted, its results) are dropped.
INVALIDATED = "invalidated"


class StoreError(Exception):
    """The store refused an operation (a key of the wrong type, a command it does not know)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now; the same call works again once it is back.

    The server pauses consuming on it (messages wait in the broker) instead of crashing.
    """


def lock_stamp(now: float) -> int:
    """A task lock's value: Sensu's timestamp in units of 10^-7 s."""
    return int(now * 10_000_000)


def last_ok_time(check: Check, now: float) -> int:
    """What Sensu keeps as `last_ok`: the result's `executed` (now if missing), as an integer."""
    executed = check.get("executed")
    if isinstance(executed, int | float) and not isinstance(executed, bool):
        try:
            return int(executed)
        except (OverflowError, ValueError):
            pass
    return int(now)


class SeriesSample(NamedTuple):
    """The last value of one metric series, kept for Prometheus scrapes."""

    value: float
    #: When the value arrived (server clock).
    updated: float
    #: When the series disappears if no newer value arrives.
    expires: float
    #: "gauge" or "counter" (exported with `_total` and `# TYPE ... counter`).
    kind: str = "gauge"


GAUGE = "gauge"
COUNTER = "counter"


@dataclass
class Recorded:
    """What `record_result` reads back in the same round trip."""

    #: Statuses as strings, oldest first, the new one last; at most 21.
    history: list[str] = field(default_factory=list)
    #: `executed` of the last OK result, this one included.
    last_ok: int | None = None
    #: The open event for this client and check before this result, if any.
    event: Event | None = None


@dataclass
class Checked:
    """What `record_checked` found and did: the client, and the result recorded or refused."""

    client: Client | None
    #: Why the result was refused (nothing was written), or None.
    refusal: str | None = None
    recorded: Recorded | None = None
    #: Whether `proxy_stored` (not `stored`) was recorded: the client is a proxy.
    proxy: bool = False


def signature_refusal(client: Client | None, key: str | None, sent: Any) -> str | None:
    """Why a result signed `sent` may not be recorded for this client, or None (as Sensu's server).

    A registered client's results must carry the signature in its definition, if it has one;
    the signature key is not consulted then, so the resolves the API publishes while it deletes
    an invalidated client still go through. Once the client is gone, a result must match the
    signature key, and an invalidated key matches nothing, so the deleted client does not come
    back through its results.
    """
    if client is not None:
        stored = client.get("signature")
        if stored is not None and stored is not False and stored != sent:
            return "signature does not match the one of the client"
        return None
    if key == INVALIDATED:
        return "the client was deleted with invalidate=true"
    if key and key != sent:
        return "signature does not match the one its keepalives registered"
    return None


def is_proxy(client: Client | None, source_given: bool) -> bool:
    """Whether results are recorded for a proxy client (a new client is one when `source` named it)."""
    return client.get("type") == "proxy" if client is not None else source_given


class Store(ABC):
    """Clients, results, history, events and silences."""

    # -- clients ---------------------------------------------------------------------
    @abstractmethod
    async def get_client(self, name: str) -> Client | None: ...

    @abstractmethod
    async def put_client(self, client: Client) -> None:
        """Create or replace the client (`clients` set, `client:<name>`)."""

    @abstractmethod
    async def list_clients(self) -> list[Client]: ...

    @abstractmethod
    async def delete_client(self, name: str, keep_signature: bool = False) -> None:
        """Remove the client with its results, history, events and signature key.

        `keep_signature` leaves `client:<name>:signature` as it is (an invalidation that
        outlives the client).
        """

    async def lookup_client(self, name: str) -> tuple[Client | None, str | None]:
        """The client and its signature key (see `get_signature`), in one round trip where the store can."""
        return await self.get_client(name), await self.get_signature(name)

    # -- signatures (`client:<name>:signature`, docs/redis.md "Key layout") ---------------------------
    @abstractmethod
    async def get_signature(self, name: str) -> str | None:
        """The signature a client's keepalives must carry: None when none was claimed, "" for
        an unsigned client, `INVALIDATED` after an API delete with `invalidate=true`."""

    @abstractmethod
    async def claim_signature(self, name: str, signature: str | None) -> str:
        """A keepalive's claim, atomically, as Sensu's SETNX: the key takes `signature` (""
        for none) when absent, or when empty and `signature` is given. Returns the key's value
        after the claim, which the keepalive's signature must equal (or it must be "")."""

    @abstractmethod
    async def invalidate_client(self, name: str, expire: int | None = None) -> None:
        """Set the signature key to `INVALIDATED`, for `expire` seconds if given, else until
        the client is deleted."""

    # -- results ---------------------------------------------------------------------
    @abstractmethod
    async def record_result(self, client: str, check: Check, stored: Check, aggregates: list[str]) -> Recorded:
        """Record one result atomically and read back history, last OK and the open event.

        `check` is the full check (its `status`, `executed`, `ttl` are used); `stored` is what
        is kept as the last result (output possibly truncated). The member `client:check`
        joins each named aggregate.
        """

    async def record_checked(
        self, name: str, sent_signature: Any, check: Check, stored: Check, aggregates: list[str],
        proxy_stored: Check | None = None, source_given: bool = False,
    ) -> Checked:
        """Look the client up, check the result's signature, and record it unless refused.

        `proxy_stored` is what to keep instead of `stored` when the client turns out to be a
        proxy (None: the same). A store that can does this in one round trip; nothing is
        written for a refused result.
        """
        found, key = await self.lookup_client(name)
        client = found if isinstance(found, dict) else None
        refusal = signature_refusal(client, key, sent_signature)
        if refusal is not None:
            return Checked(client, refusal)
        proxy = is_proxy(client, source_given)
        kept = proxy_stored if proxy and proxy_stored is not None else stored
        return Checked(client, None, await self.record_result(name, check, kept, aggregates), proxy)

    @abstractmethod
    async def get_result(self, client: str, check: str) -> Check | None: ...

    @abstractmethod
    async def list_results(self, client: str | None = None) -> list[tuple[str, Check]]:
        """(client name, last result) pairs, for one client or all."""

    @abstractmethod
    async def get_history(self, client: str, check: str) -> list[str]: ...

    @abstractmethod
    async def delete_result(self, client: str, check: str) -> None:
        """Forget the last result and history of one check on one client."""

    @abstractmethod
    async def list_ttl(self) -> list[str]:
        """`client:check` pairs whose last result carried a `ttl` (Sensu's `ttl` set)."""

    @abstractmethod
    async def remove_ttl(self, member: str) -> None:
        """Drop a `client:check` pair from the ttl index."""

    # -- keepalives ------------------------------------------------------------------
    @abstractmethod
    async def record_keepalive(self, client: Client, received: float) -> None:
        """Store the client's definition from a keepalive, and when the server received it.

        ogi judges keepalive age by the server's receipt time, not the client's clock.
        """

    @abstractmethod
    async def keepalive_times(self) -> dict[str, float]:
        """Client name -> server time its last keepalive was received."""

    # -- metric series ---------------------------------------------------------------
    @abstractmethod
    async def put_series(self, samples: dict[str, SeriesSample]) -> None:
        """Set the last value of each series, keyed by a series id the caller chooses."""

    @abstractmethod
    async def list_series(self) -> dict[str, SeriesSample]:
        """Every series not yet expired (expired ones are forgotten)."""

    # -- events ----------------------------------------------------------------------
    @abstractmethod
    async def get_event(self, client: str, check: str) -> Event | None: ...

    @abstractmethod
    async def put_event(self, event: Event) -> None:
        """Store an open event under its `client.name` and `check.name`."""

    @abstractmethod
    async def delete_event(self, client: str, check: str) -> None: ...

    @abstractmethod
    async def list_events(self, client: str | None = None) -> list[Event]: ...

    @abstractmethod
    async def list_events_json(self, client: str | None = None) -> list[bytes]:
        """The events `list_events` gives, as the JSON object text the store keeps (not parsed).

        Clients come in name order; one client's events in an order that does not change
        while they do. A value that is not a JSON object is left out.
        """

    # -- aggregates ------------------------------------------------------------------
    @abstractmethod
    async def list_aggregates(self) -> list[str]: ...

    @abstractmethod
    async def aggregate_members(self, name: str) -> list[str]:
        """Members as `client:check` strings."""

    @abstractmethod
    async def delete_aggregate(self, name: str) -> None:
        """Forget an aggregate and its members."""

    # -- stashes ---------------------------------------------------------------------
    @abstractmethod
    async def get_stash(self, path: str) -> JSON | None: ...

    @abstractmethod
    async def put_stash(self, path: str, content: JSON, expire: int | None = None) -> None:
        """Store `content` at `path`; it disappears after `expire` seconds if given."""

    @abstractmethod
    async def delete_stash(self, path: str) -> None: ...

    @abstractmethod
    async def list_stashes(self) -> list[JSON]:
        """`{path, content, expire}` for each stash; `expire` is the seconds left, -1 for none."""

    # -- silences --------------------------------------------------------------------
    @abstractmethod
    async def get_silences(self, ids: list[str], seconds_left: bool = True) -> list[JSON | None]:
        """The entries for the ids `sub:check`, in order, None where absent or expired.

        An entry's `expire` is the seconds it has left, -1 for none (as Sensu's API showed the
        key's TTL; Sensu does not store `expire` in the entry). With `seconds_left=False` the
        entries are as stored, which spares Redis a round trip when one is found (the result
        processor needs no expiry).
        """

    @abstractmethod
    async def put_silence(self, entry: JSON, expire: int | None = None) -> None:
        """Store an entry under its `id`; it disappears after `expire` seconds if given."""

    @abstractmethod
    async def delete_silence(self, silence_id: str) -> None: ...

    @abstractmethod
    async def list_silences(self) -> list[JSON]:
        """Every live entry, by id, `expire` as in `get_silences`."""

    # -- server tasks and registry ----------------------------------------------------
    @abstractmethod
    async def acquire_task(self, task: str, owner: str, now: float) -> bool:
        """Try to take the lock of a server task (Sensu's election, docs/redis.md "Key layout").

        Won when the lock is free, when `owner` holds it already, or when it was last
        refreshed `TASK_LOCK_STALE` seconds or more before `now` (taken over only if nobody
        else took it meanwhile). The winner is recorded as the task's server.
        """

    @abstractmethod
    async def refresh_task(self, task: str, owner: str, now: float) -> bool:
        """Renew the lock while `owner` is still the task's server; False means the task was lost."""

    @abstractmethod
    async def release_task(self, task: str, owner: str) -> None:
        """Give up the task if `owner` holds it, so another server can take it at once."""

    @abstractmethod
    async def task_owner(self, task: str) -> str | None:
        """The id of the server recorded as running the task, if any."""

    @abstractmethod
    async def register_server(self, info: JSON, expire: int = 30) -> None:
        """Announce a server (`info["id"]`, hostname, address, tasks, timestamp) for `expire` seconds."""

    @abstractmethod
    async def unregister_server(self, server_id: str) -> None: ...

    @abstractmethod
    async def list_servers(self) -> list[JSON]:
        """Every server whose entry has not expired, by id."""

    async def ping(self) -> bool:
        """Whether the store answers now (never raises)."""
        return True

    async def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing
        """Release connections."""
