"""/stashes and /stashes/:path (reference §7)."""

from __future__ import annotations

import pytest

from tests.api.support import Harness


async def test_a_stash_posted_with_its_path_is_created_and_listed_with_its_expiry(api: Harness) -> None:
    reply = await api.call("POST", "/stashes", {"path": "silence/web-01/disk", "content": {"by": "ops"},
                                                "expire": 600})
    assert (reply.status, reply.json) == (201, {"path": "silence/web-01/disk"})
    await api.call("POST", "/stashes", {"path": "notes", "content": {"n": 1}})
    listed = await api.call("GET", "/stashes")
    assert listed.status == 200
    by_path = {s["path"]: s for s in listed.json}
    assert by_path["notes"] == {"path": "notes", "content": {"n": 1}, "expire": -1}
    assert by_path["silence/web-01/disk"]["content"] == {"by": "ops"}
    assert 0 < by_path["silence/web-01/disk"]["expire"] <= 600


async def test_a_stash_posted_at_its_path_takes_the_body_as_content(api: Harness) -> None:
    reply = await api.call("POST", "/stashes/my/stash", {"message": "hello"})
    assert (reply.status, reply.json) == (201, {"path": "my/stash"})
    got = await api.call("GET", "/stashes/my/stash")
    assert (got.status, got.json) == (200, {"message": "hello"})


async def test_a_missing_stash_is_404_to_get_and_to_delete(api: Harness) -> None:
    assert (await api.call("GET", "/stashes/nothing/here")).status == 404
    assert (await api.call("DELETE", "/stashes/nothing/here")).status == 404


async def test_deleting_a_stash_answers_204(api: Harness) -> None:
    await api.call("POST", "/stashes/a", {"x": 1})
    reply = await api.call("DELETE", "/stashes/a")
    assert (reply.status, reply.text) == (204, "")
    assert await api.store.get_stash("a") is None


async def test_a_stash_expires_after_its_expire_seconds(memory_api: Harness) -> None:
    await memory_api.call("POST", "/stashes", {"path": "tmp", "content": {}, "expire": 60})
    memory_api.clock.advance(61)
    assert (await memory_api.call("GET", "/stashes/tmp")).status == 404
    assert (await memory_api.call("GET", "/stashes")).json == []


@pytest.mark.parametrize(("body", "field"), [
    ({"content": {}}, "'path'"),
    ({"path": "", "content": {}}, "'path'"),
    ({"path": "a//b", "content": {}}, "segments"),
    ({"path": "a/../b", "content": {}}, "segments"),
    ({"path": "a\u0000b", "content": {}}, "control"),
    ({"path": "a", "content": "text"}, "'content'"),
    ({"path": "a", "content": {}, "expire": -1}, "'expire'"),
    ({"path": "a", "content": {}, "expire": 0}, "'expire'"),
    ({"path": "a", "content": {}, "expire": "60"}, "'expire'"),
    ({"path": "a", "content": {}, "expire": 1.5}, "'expire'"),
])
async def test_a_bad_stash_is_400_naming_what_was_wrong(api: Harness, body: dict[str, object], field: str) -> None:
    reply = await api.call("POST", "/stashes", body)
    assert reply.status == 400 and field in reply.json["error"], reply.text
    assert await api.store.list_stashes() == []


async def test_a_stash_body_that_is_not_an_object_is_400(api: Harness) -> None:
    reply = await api.call("POST", "/stashes/a", [1, 2])
    assert reply.status == 400 and "object" in reply.json["error"]
    assert await api.store.list_stashes() == []


async def test_stash_path_is_served_beside_stashes_path_as_sensu_1_9_does(api: Harness) -> None:
    # sensu-plugin's stash silencing GETs /stash/silence/CLIENT/CHECK; Sensu 1.9 matches ^/stash(?:es)?/.
    assert (await api.call("POST", "/stash/silence/web-01/disk", {"by": "ops"})).status == 201
    got = await api.call("GET", "/stash/silence/web-01/disk")
    assert (got.status, got.json) == (200, {"by": "ops"})
    assert (await api.call("GET", "/stashes/silence/web-01/disk")).json == {"by": "ops"}
    assert (await api.call("DELETE", "/stash/silence/web-01/disk")).status == 204
    assert (await api.call("GET", "/stash/silence/web-01/disk")).status == 404
