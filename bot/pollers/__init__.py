"""Pollers that read usage from a gateway's or a provider's own API (LiteLLM spend logs, OpenAI and Anthropic admin
usage reports) into the ledger. Each exposes `async def poll_<source>(deps) -> PollReport`; scheduling is wired
elsewhere. Every poller keeps a cursor (storage/schema_ingest.py) so a restart resumes where it stopped, and gives
every event a deterministic id so reading the same range twice never counts anything twice."""
