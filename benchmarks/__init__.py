"""The flatstream benchmark suite: flatstream against its peers, in one run.

``python -m benchmarks`` (or ``bash scripts/bench.sh``) runs every workload and
writes ``BENCHMARKS.md``; ``--quick`` runs small sizes as a smoke test. See
``python -m benchmarks --help``.

Layout:

* :mod:`benchmarks.harness`: timing (interleaved repeats, medians with
  min/max), kernel-mode switching, child processes and their peak RSS, the
  machine description.
* :mod:`benchmarks.schemas`: the message types every runtime encodes
  (telemetry event, LOBSTER message, order book, a wide frame) as ``.fbs``
  and ``.proto`` text, and the sample values.
* :mod:`benchmarks.peers`: the other runtimes (official FlatBuffers with
  flatc-generated code, msgpack, pickle, orjson, protobuf with protoc-generated
  code, pyarrow IPC, a naive ``struct`` framing loop).
* One module per workload family: :mod:`benchmarks.framing` (opaque payloads
  framed and read back), :mod:`benchmarks.bulk` (scan/count/verify,
  ``iter_batches``, ``write_many``), :mod:`benchmarks.bigfile` (a file on disk,
  peak RSS), :mod:`benchmarks.codecs` (schema-compiled codecs),
  :mod:`benchmarks.background` (background writer latencies).
* :mod:`benchmarks.report`: the tables and the targets of issues 3 and 4.

Timings are never asserted anywhere: this is a measuring tool, not a test.
"""
