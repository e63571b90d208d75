"""eventline: event tracking for marketing automation (gateway -> Kafka -> Faust -> ClickHouse)."""

__version__ = "0.1.0"
