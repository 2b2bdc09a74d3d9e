"""A TCP sink in its own process: counts the lines it receives until told to stop."""

from __future__ import annotations

import socket
import sys
import threading


def main() -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    print(server.getsockname()[1], flush=True)
    lines = 0
    lock = threading.Lock()

    def drain(conn: socket.socket) -> None:
        nonlocal lines
        with conn:
            while chunk := conn.recv(1 << 20):
                with lock:
                    lines += chunk.count(b"\n")

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=drain, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.readline()  # the benchmark writes a line when it wants the count
    import time

    time.sleep(0.5)
    with lock:
        print(lines, flush=True)


if __name__ == "__main__":
    main()
