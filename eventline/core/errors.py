"""The project's exception hierarchy: one base, a few kinds callers act on differently."""

from __future__ import annotations


class EventlineError(Exception):
    """Base of every error eventline raises on purpose."""


class ConfigurationError(EventlineError):
    """A setting is missing or contradicts another; fails fast at start."""


class InvalidEvent(EventlineError):
    """Input that can never be processed: answered 4xx by the gateway, ``failed`` in the worker.

    ``field`` names the offending field (dotted path) and ``reason`` says what is wrong with it.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class TransientError(EventlineError):
    """A dependency is unavailable for now; the caller retries, never skips."""


class KafkaUnreachable(EventlineError):
    """No Kafka broker answered at the configured address."""

    def __init__(self, bootstrap: str, waited_s: float) -> None:
        super().__init__(
            f"no Kafka broker answered at {bootstrap} within {waited_s:.0f}s "
            "(EVENTLINE_KAFKA_BOOTSTRAP): start the local one with `eventline kafka start`, "
            "or set EVENTLINE_KAFKA_BOOTSTRAP to your brokers"
        )
        self.bootstrap = bootstrap
