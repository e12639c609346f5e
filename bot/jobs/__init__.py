"""Scheduled work: the scheduler and its jobs, each exactly once across processes (keys in the database)."""
