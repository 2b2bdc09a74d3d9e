"""Event ids are uuid4 text, never repeated, not even by a forked child holding its parent's pool."""

from __future__ import annotations

import os
import uuid

from pipeline.server.event_ids import new_event_id


def test_ids_are_version_4_uuids_and_distinct_across_many_pools() -> None:
    ids = [new_event_id() for _ in range(2000)]
    assert len(set(ids)) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_forked_child_does_not_hand_out_the_ids_its_parent_has_pooled() -> None:
    new_event_id()  # the pool now holds the parent's next ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then leave at once
        os.close(read)
        os.write(write, " ".join(new_event_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {new_event_id() for _ in range(10)}
    assert len(child) == 10 and not child & parent
