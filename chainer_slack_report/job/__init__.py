"""The job around a run: which rank this process is, and how the job is ended from
outside (signals)."""
