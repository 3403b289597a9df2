"""What the tests, `make run` and `make bench` use, never the job: generated inputs (sample_data),
DuckDB's independent answer (duckdb_reference), the benchmark's measurements (benchmark) and
floors (floors), the digests that pin a hand-bumped version to its code (versions). Left out of
dist/lastfm.zip and the wheel: nothing here ships to a cluster."""
