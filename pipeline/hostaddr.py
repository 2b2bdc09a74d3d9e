"""This host's address as Sensu reports it: the first non-loopback IPv4 address, in interface order.

The agent announces it as `client.address` and the server as its own in task election; both
rooms use this one function (it lived in the agent until the server needed it too).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct

_SIOCGIFADDR = 0x8915  # Linux: an interface's primary IPv4 address


def _interface_address(sock: socket.socket, interface: str) -> str | None:
    try:
        packed = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, struct.pack("256s", interface.encode()[:15]))
    except OSError:
        return None  # down, or no IPv4 address
    return socket.inet_ntoa(packed[20:24])


def first_ipv4() -> str:
    """The first non-loopback IPv4 address of this host, in interface order; 127.0.0.1 if none."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _index, interface in sorted(socket.if_nameindex()):
            address = _interface_address(sock, interface)
            if address and not ipaddress.ip_address(address).is_loopback:
                return address
    return "127.0.0.1"
