"""LOBSTER (https://lobsterdata.com) end to end: synthetic ZIPs (synth), ZIP ->
flatstream streams (ingest), and the streams back to columns (storage)."""
