"""What the job checks and tells about the data: the expectations and a run's checks (checks),
the input and session profile (profiling), and the report's pictures (report)."""
