"""The durable capture agent (``python -m examples.agent --help``): see
:mod:`examples.agent.agent` for what it guarantees under each fsync policy,
``recovery`` for what it repairs at start, and ``crashtest`` for the kill -9
test behind ``python -m examples.agent.crashtest``."""
