"""`ogi run`'s console lines as an operator's terminal gets them: check output cannot drive it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from tests.helpers import free_port, wait_for

OGI = str(Path(sys.executable).parent / "ogi")


def test_a_terminal_escape_in_check_output_is_printed_escaped_and_dot_names_are_refused(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "config.json").write_text(json.dumps({"client": {"name": "term", "socket": {"port": port}}}))
    out = tmp_path / "out"
    with out.open("w") as stdout:
        process = subprocess.Popen([OGI, "run", "-c", str(tmp_path / "config.json")], stdout=stdout,
                                   stderr=subprocess.DEVNULL)
    try:
        def push(result: dict[str, object]) -> bytes:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                    conn.sendall(json.dumps(result).encode())
                    conn.shutdown(socket.SHUT_WR)
                    return conn.recv(200)
            except OSError:
                return b""

        title = "\x1b]0;owned\x07\x1b[2J"
        assert wait_for(lambda: push({"name": "app", "output": f"{title}CRITICAL", "status": 2}), 15) == b"ok"
        line = wait_for(lambda: [x for x in out.read_text().splitlines() if " app " in x], 15)[0]
        assert "\x1b" not in line and "\x07" not in line
        assert line.split(" -> ")[0].endswith("\\x1b]0;owned\\x07\\x1b[2JCRITICAL")
        for name in (".", ".."):
            assert push({"name": name, "output": "x"}).startswith(b"invalid: check name")
    finally:
        process.kill()
        process.wait()
