"""One module per use case (me, team views, requests, digests, warnings, home, ingestion, budget check, admin, ...):
read the stores, call the domain, return a result (or hand a message to the Slack outbox)."""
