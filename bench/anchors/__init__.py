"""Anchors: what eventline's own dependencies do on this machine, measured in the same run.

Each module is one anchor and runs in a process of its own (bench.procs), so that a figure of
eventline can be read as a ratio of what its libraries can do here today."""
