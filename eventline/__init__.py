"""eventline: event tracking for marketing automation (gateway -> Kafka -> Faust -> ClickHouse)."""

from eventline.core.version import VERSION as __version__

__all__ = ["__version__"]
