"""ogi-metrics-disk-usage: space and inodes of the real filesystems in /proc/mounts, through statvfs.

For each mount point, as one node (`/` -> `root`, `/var/log` -> `var_log`), prints `<scheme>.<mount>.used`,
`.free`, `.total` (bytes), `.used_percent`, `.inodes_used`, `.inodes_free`, `.inodes_total` and
`.inodes_used_percent`. `free` is what unprivileged users can still write (df's "Avail"), and the percentages
are df's: used / (used + free), so the blocks reserved for root count as neither.

Pseudo filesystems (proc, sysfs, tmpfs, overlay, squashfs, cgroup, ...) are skipped, so are a device's second
mounts (bind mounts) and filesystems without blocks; `--type`, `--exclude-type`, `--mount` and
`--exclude-mount` narrow the choice further.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Iterator

from plugins.sdk import MetricPlugin, Point, mount_node, read_text

PSEUDO_TYPES = frozenset({
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
    "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "overlay", "proc", "pstore", "ramfs", "rpc_pipefs",
    "securityfs", "selinuxfs", "squashfs", "sysfs", "tmpfs", "tracefs", "aufs", "iso9660", "fuse.lxcfs",
    "fuse.gvfsd-fuse", "fuse.portal", "fuse.snapfuse", "nfsd", "rootfs", "shm", "cpuset",
})


def _unescape(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash in paths as octal escapes (\040 ...)
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and len(field[i + 1:i + 4]) == 3:
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def real_mounts(mounts_text: str, types: Iterable[str] = (), exclude_types: Iterable[str] = (),
                mounts: Iterable[str] = (), exclude_mounts: Iterable[str] = ()) -> list[tuple[str, str, str]]:
    """(device, mount point, type) of the real filesystems, first mount of each device only."""
    only_types, skip_types = set(types), PSEUDO_TYPES | set(exclude_types)
    only_mounts, skip_mounts = set(mounts), set(exclude_mounts)
    seen_devices: set[str] = set()
    seen_mounts: set[str] = set()
    chosen = []
    for line in mounts_text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        device, mount, fstype = _unescape(parts[0]), _unescape(parts[1]), parts[2]
        if only_types and fstype not in only_types:
            continue
        if not only_types and fstype in skip_types:
            continue
        if only_mounts and mount not in only_mounts:
            continue
        if mount in skip_mounts:
            seen_devices.add(device)  # the filesystem is excluded, not just this path to it
            continue
        # a device mounted twice (bind mounts, containers) is counted once; so is a mount point mounted over
        if (device.startswith("/") and device in seen_devices) or mount in seen_mounts:
            continue
        seen_devices.add(device)
        seen_mounts.add(mount)
        chosen.append((device, mount, fstype))
    return chosen


def usage(mount: str, st: os.statvfs_result) -> Iterator[Point]:
    """The points of one filesystem from its statvfs."""
    prefix = mount_node(mount)
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    yield f"{prefix}.used", used
    yield f"{prefix}.free", free
    yield f"{prefix}.total", total
    yield f"{prefix}.used_percent", round(100.0 * used / (used + free), 2) if used + free else 0
    inodes_used = st.f_files - st.f_ffree
    yield f"{prefix}.inodes_used", inodes_used
    yield f"{prefix}.inodes_free", st.f_favail
    yield f"{prefix}.inodes_total", st.f_files
    inodes_known = inodes_used + st.f_favail  # 0 on filesystems without an inode table (btrfs, vfat)
    yield f"{prefix}.inodes_used_percent", round(100.0 * inodes_used / inodes_known, 2) if inodes_known else 0


class DiskUsageMetrics(MetricPlugin):
    """Used, free and total bytes and inodes of each real filesystem."""

    name = "disk_usage"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--type", action="append", default=[], metavar="FSTYPE",
                            help="only filesystems of this type (repeatable; e.g. ext4, xfs, nfs4)")
        parser.add_argument("-x", "--exclude-type", action="append", default=[], metavar="FSTYPE",
                            help="also skip this filesystem type (repeatable)")
        parser.add_argument("-m", "--mount", action="append", default=[], metavar="PATH",
                            help="only this mount point (repeatable)")
        parser.add_argument("--exclude-mount", action="append", default=[], metavar="PATH",
                            help="skip this mount point (repeatable)")

    def collect(self) -> Iterator[Point]:
        a = self.args
        for _device, mount, _fstype in real_mounts(read_text("/proc/mounts"), a.type, a.exclude_type,
                                                   a.mount, a.exclude_mount):
            try:
                st = os.statvfs(mount)
            except OSError:
                continue  # unmounted meanwhile, or a hung network mount answered with an error
            if st.f_blocks:
                yield from usage(mount, st)


main = DiskUsageMetrics.main

if __name__ == "__main__":
    raise SystemExit(main())
