"""Storage: every read and write the job makes (reading, writing), and the record of the input
files the warehouse holds (record)."""
