"""ogi: monitoring in the design of Sensu 1.x. Importing this package touches no network."""

__version__ = "0.1.0"
# The Sensu version ogi reports where Sensu 1.x clients and tools expect one.
SENSU_COMPAT_VERSION = "1.9.0"
