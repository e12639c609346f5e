"""Slack listeners (handlers/slack/) and HTTP endpoints (handlers/http/), registered explicitly at start-up."""
from handlers.http import register as register_http
from handlers.slack import register as register_slack

__all__ = ["register_http", "register_slack"]
