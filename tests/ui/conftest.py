"""The browser fixture for every dashboard test module."""

from tests.ui.browser import driver

__all__ = ["driver"]
