"""Who is this Slack user? The org file's Slack id first, then their Slack email (users.info)."""
from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from storage.stores.org import OrgStore, Person

log = logging.getLogger(__name__)


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code, or the HTTP status when the answer was not Slack's JSON (a proxy page, a 5xx)."""
    data = exc.response.data
    if isinstance(data, dict):
        return str(data.get("error") or "unknown_error")
    return f"http_{exc.response.status_code}"


async def find_person(org: OrgStore, client: AsyncWebClient, slack_user_id: str) -> tuple[Person | None, str | None]:
    """The person and the Slack email we looked at (for the 'ask to be added' message)."""
    person = await org.person_by_slack_id(slack_user_id)
    if person is not None:
        return person, person.email
    try:
        info = await client.users_info(user=slack_user_id)
    except SlackApiError as exc:
        log.warning("users.info failed for %s: %s", slack_user_id, slack_error(exc))
        return None, None
    email = ((info.get("user") or {}).get("profile") or {}).get("email")
    if not email:
        return None, None
    person = await org.person_by_email(email)
    if person is not None and person.slack_user_id is None:
        await org.link_slack_id(person.id, slack_user_id)  # remembered: the next lookup is one indexed read
    return person, email


async def link_people_by_email(org: OrgStore, client: AsyncWebClient) -> list[str]:
    """For people in the org file without a Slack id, ask Slack who has their email (users.lookupByEmail)."""
    lines = []
    for person in await org.people_without_slack_id():
        try:
            found = await client.users_lookupByEmail(email=person.email)
        except SlackApiError as exc:
            error = slack_error(exc)
            lines.append(f"person {person.email}: no Slack user found ({error})")
            continue
        user_id = (found.get("user") or {}).get("id")
        if user_id and await org.person_by_slack_id(user_id) is None:
            await org.link_slack_id(person.id, user_id)
            lines.append(f"person {person.email}: linked to Slack user {user_id}")
    return lines
