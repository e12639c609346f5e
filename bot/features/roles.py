"""Who may see what: roles come from the database (org file), never from the request."""
from __future__ import annotations

from dataclasses import dataclass

from bot.features.deps import Deps
from bot.domain.org import Person, Team


@dataclass(frozen=True)
class Viewer:
    user_id: str
    person: Person | None
    is_admin: bool
    approves: frozenset[int]  # team ids this user approves for

    def may_see_team(self, team: Team) -> bool:
        return self.is_admin or team.id in self.approves or (self.person is not None and self.person.team_id == team.id)

    def may_see_people_of(self, team: Team) -> bool:
        """Per-person figures of a team: its approvers and the admins always; its members where the team allows it."""
        if self.is_admin or team.id in self.approves:
            return True
        return team.digest_names_top_spenders and self.person is not None and self.person.team_id == team.id

    def may_see_person(self, person: Person) -> bool:
        return (self.is_admin or (self.person is not None and self.person.id == person.id)
                or (person.team_id is not None and person.team_id in self.approves))


async def viewer(deps: Deps, user_id: str, person: Person | None) -> Viewer:
    info = await deps.org.org_info()
    approves = await deps.org.teams_approved_by(user_id)
    return Viewer(user_id=user_id, person=person, is_admin=user_id in info.admins, approves=approves)
