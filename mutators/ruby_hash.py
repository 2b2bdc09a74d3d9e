"""The `ruby_hash` mutator, kept so Sensu 1.x configs start: it sends the event as JSON.

Sensu's built-in `ruby_hash` handed the handler the event in Ruby's `Hash#inspect` syntax
(`{:client=>{:name=>"web-1"}}`), which only Ruby `eval` can read back, which is exactly what
ogi refuses to do. Its users were Ruby handlers that turned it back into a hash; a handler
written in any language reads JSON, so ogi sends JSON. The config validator warns at start-up
when a handler names this mutator.
"""

from __future__ import annotations

from typing import ClassVar

from mutators.json import JsonMutator


class RubyHashMutator(JsonMutator):
    """Same bytes as `json`; see the module docstring for why."""

    type_name: ClassVar[str] = "ruby_hash"
