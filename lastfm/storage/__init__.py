"""Where the tables live: every read (reading) and write (writing) the job makes, what a commit
notes about its inputs (lineage), and the bookkeeping of incremental runs (incremental)."""
