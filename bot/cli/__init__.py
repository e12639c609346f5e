"""The `tokenbot` command: serve, org, usage, digest, reconcile, poll, demo (main.py), and the demo's data."""
