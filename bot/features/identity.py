"""Who is this Slack user? The org file's Slack id first, then their Slack profile email (users.info)."""
from __future__ import annotations

from bot.slack.outbox import SlackOutbox, SlackSendError
from bot.domain.org import Person
from storage.stores.org import OrgStore


async def find_person(org: OrgStore, slack: SlackOutbox | None, slack_user_id: str) -> tuple[Person | None, str | None]:
    """The person and the Slack email we looked at (for the 'ask to be added' message)."""
    person = await org.person_by_slack_id(slack_user_id)
    if person is not None:
        return person, person.email
    email = await slack.email_of(slack_user_id) if slack is not None else None
    if not email:
        return None, None
    person = await org.person_by_email(email)
    if person is not None and person.slack_user_id is None:
        await org.link_slack_id(person.id, slack_user_id)  # remembered: the next lookup is one indexed read
    return person, email


async def link_people_by_email(org: OrgStore, slack: SlackOutbox) -> list[str]:
    """For people in the org file without a Slack id, ask Slack who has their email (users.lookupByEmail)."""
    lines = []
    for person in await org.people_without_slack_id():
        try:
            user_id = await slack.user_id_for_email(person.email)
        except SlackSendError as exc:
            lines.append(f"person {person.email}: no Slack user found ({exc.code})")
            continue
        if await org.person_by_slack_id(user_id) is None:
            await org.link_slack_id(person.id, user_id)
            lines.append(f"person {person.email}: linked to Slack user {user_id}")
    return lines
