"""acs-exporter: why Azure Communication Services calls end, as Prometheus metrics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("acs-exporter")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
