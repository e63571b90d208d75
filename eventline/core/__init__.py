"""The ground floor: configuration, errors, topic names, the clock and Kafka client helpers.

Everything else in eventline builds on these modules; they import nothing of eventline's own
above them (``make lint`` checks it)."""
