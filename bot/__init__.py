"""Opscord: ChatOps for Discord."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("opscord")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"
