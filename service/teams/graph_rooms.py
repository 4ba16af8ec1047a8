"""The outbox channel `teams_graph`: the war room's Graph calls, one row each (see warroom.py).

- create_channel: `POST /teams/{team}/channels` (standard); a 409 for a taken name tries "name (2)", …
- create_chat: `POST /chats` (group) with exactly the role holders known by Entra object id
- create_meeting: `POST /users/{organizer}/onlineMeetings`; 403 (no application access policy) means
  no bridge: the timeline says why, once, and the row fails visibly
- archive_channel: `POST /teams/{team}/channels/{id}/archive`; closing_card: the card says closed

429, 5xx and unreachable Graph are retried by the outbox after Retry-After; other 4xx are final.
A row whose room is not created yet waits (retried) rather than failing.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from .. import clock, db
from ..incidents.models import Incident
from ..incidents.timeline import record
from ..microsoft import GraphError, microsoft
from ..notify.channels import Outgoing, PermanentError, Receipt, RetryableError
from . import outbox, warroom

MAX_NAME_TRIES = 5
MEETING_HOURS = 24


class GraphRoomsChannel:
    name = warroom.GRAPH_CHANNEL

    def __init__(self, cfg):
        self.cfg = cfg

    def close(self) -> None:
        pass

    def send(self, message: Outgoing) -> Receipt:
        payload = message.payload or {}
        op = payload.get("op")
        handler = getattr(self, f"_{op}", None)
        if handler is None:
            raise PermanentError(f"unknown war room operation {op!r}")
        try:
            extra = {"member": payload["member"]} if "member" in payload else {}
            return handler(payload["incident_id"], **extra)
        except GraphError as exc:
            if exc.status in (0, 401, 408) or exc.throttled or exc.status >= 500:
                raise RetryableError(f"Graph: {exc}", retry_after=exc.retry_after) from exc
            raise PermanentError(f"Graph: {exc}") from exc

    def _graph(self):
        return microsoft(self.cfg)

    def _room(self, s, incident_id: int):
        room = warroom.room_of(s, incident_id)
        incident = s.get(Incident, incident_id)
        if room is None or incident is None:
            raise PermanentError("the incident or its room is gone")
        return room, incident

    # ---- rooms ---------------------------------------------------------------------------------

    def _create_channel(self, incident_id: int) -> Receipt:
        with db.transaction() as s:
            room, incident = self._room(s, incident_id)
            if room.kind != "channel":
                raise PermanentError("the room became a private chat before its channel was made")
            if room.conversation_id:
                return Receipt(room.conversation_id)  # made by an earlier attempt whose outcome was lost
            team, description = room.team_id, f"War room of {incident.number} ({incident.severity}): {incident.title}"
            names = [warroom.channel_name(incident, i) for i in range(MAX_NAME_TRIES)]
        name, answer = _first_free(names, lambda name: self._graph().post(
            f"/teams/{quote(team)}/channels", retries=0,
            json={"displayName": name, "description": description[:1024], "membershipType": "standard"}).json())
        return self._created(incident_id, answer["id"], answer.get("displayName", name), answer.get("webUrl"), [])

    def _create_chat(self, incident_id: int) -> Receipt:
        with db.transaction() as s:
            room, incident = self._room(s, incident_id)
            if room.conversation_id:
                return Receipt(room.conversation_id)
            members = warroom.role_holder_ids(incident)
            topic = f"{incident.number} {incident.severity} (restricted)"
        if len(members) < 2:
            raise RetryableError("a group chat needs at least two role holders known to Teams; waiting for them")
        graph = self.cfg.graph_url.rstrip("/")
        answer = self._graph().post("/chats", retries=0, json={
            "chatType": "group", "topic": topic,
            "members": [{"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": ["owner"],
                         "user@odata.bind": f"{graph}/users('{aad}')"} for aad in members]}).json()
        return self._created(incident_id, answer["id"], topic, answer.get("webUrl"), members)

    def _created(self, incident_id: int, conversation_id: str, name: str, web_url: str | None,
                 members: list[str]) -> Receipt:
        with db.transaction() as s:
            room, incident = self._room(s, incident_id)
            room.conversation_id, room.name, room.web_url = conversation_id, name, web_url
            room.member_ids, room.updated_at = members, clock.now()
            incident.links = {**(incident.links or {}), **warroom.links(room)}
            where = f"Teams channel “{name}”" if room.kind == "channel" else "a private Teams chat of the role holders"
            record(s, incident, "war_room", f"War room opened: {where}.", url=web_url, room=room.kind)
            warroom.post_card(s, incident, room)
        return Receipt(conversation_id)

    def _rename_channel(self, incident_id: int) -> Receipt:
        """The channel follows the incident's title and severity (409: the next free "… (n)")."""
        with db.transaction() as s:
            room, incident = self._room(s, incident_id)
            if room.kind != "channel" or room.archived_at:
                raise PermanentError("the room is no longer an open channel")
            if not room.conversation_id:
                raise RetryableError("the channel is not created yet")
            team, channel = room.team_id, room.conversation_id
            names = [warroom.channel_name(incident, i) for i in range(MAX_NAME_TRIES)]
        if room.name in names:
            return Receipt(channel)
        name, _ = _first_free(names, lambda name: self._graph().request(
            "PATCH", f"/teams/{quote(team)}/channels/{quote(channel)}", retries=0, json={"displayName": name}))
        with db.transaction() as s:
            room, incident = self._room(s, incident_id)
            old, room.name, room.updated_at = room.name, name, clock.now()
            record(s, incident, "war_room", f"War room renamed: “{old}” → “{name}”.")
        return Receipt(channel)

    def _add_member(self, incident_id: int, member: str) -> Receipt:
        with db.transaction() as s:
            room, incident = self._room(s, incident_id)
            if room.kind != "chat":
                raise PermanentError("the room is not a chat")
            if member in (room.member_ids or []):
                return Receipt(room.conversation_id)
            if not room.conversation_id:
                raise RetryableError("the chat is not created yet")
            chat = room.conversation_id
        graph = self.cfg.graph_url.rstrip("/")
        self._graph().post(f"/chats/{quote(chat)}/members", retries=0, json={
            "@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": ["owner"],
            "user@odata.bind": f"{graph}/users('{member}')"})
        with db.transaction() as s:
            room, incident = self._room(s, incident_id)
            room.member_ids, room.updated_at = [*(room.member_ids or []), member], clock.now()
        return Receipt(chat)

    # ---- the bridge ----------------------------------------------------------------------------

    def _create_meeting(self, incident_id: int) -> Receipt:
        organizer = self.cfg.teams_meeting_organizer
        with db.transaction() as s:
            room, incident = self._room(s, incident_id)
            if room.bridge_url:
                return Receipt(room.meeting_id)
            subject = f"{incident.number} {incident.severity}: {incident.title}"[:250]
        start = clock.now()
        try:
            answer = self._graph().post(f"/users/{quote(organizer)}/onlineMeetings", retries=0, json={
                "subject": subject, "startDateTime": start.isoformat().replace("+00:00", "Z"),
                "endDateTime": (start + timedelta(hours=MEETING_HOURS)).isoformat().replace("+00:00", "Z")}).json()
        except GraphError as exc:
            if exc.status == 403:
                self._no_bridge(incident_id, exc)
            raise
        with db.transaction() as s:
            room, incident = self._room(s, incident_id)
            room.meeting_id, room.bridge_url, room.updated_at = answer["id"], answer["joinWebUrl"], clock.now()
            incident.links = {**(incident.links or {}), **warroom.links(room)}
            record(s, incident, "bridge", "Bridge opened: a Teams meeting.", url=room.bridge_url)
            outbox.redraw_incident(s, incident.id)
        return Receipt(answer["id"])

    def _no_bridge(self, incident_id: int, exc: GraphError) -> None:
        with db.transaction() as s:
            room, incident = self._room(s, incident_id)
            if room.bridge_problem:
                return
            room.bridge_problem = ("Graph refused the meeting (403): grant the app an application access policy "
                                   "for the organizer (New-CsApplicationAccessPolicy)")
            room.updated_at = clock.now()
            record(s, incident, "bridge", f"No bridge: {room.bridge_problem}. {exc.message}"[:1000])
            outbox.redraw_incident(s, incident.id)

    # ---- closing -------------------------------------------------------------------------------

    def _archive_channel(self, incident_id: int) -> Receipt:
        with db.transaction() as s:
            room, incident = self._room(s, incident_id)
            if room.archived_at:
                return Receipt(room.conversation_id)
            if not room.conversation_id:
                raise RetryableError("the channel is not created yet")
            team, channel = room.team_id, room.conversation_id
        response = self._graph().post(f"/teams/{quote(team)}/channels/{quote(channel)}/archive", retries=0, json={})
        with db.transaction() as s:
            room, incident = self._room(s, incident_id)
            room.archived_at = room.updated_at = clock.now()
            record(s, incident, "war_room", f"War room archived: Teams channel “{room.name}”.")
        return Receipt(response.headers.get("request-id") or channel)

    def _closing_card(self, incident_id: int) -> Receipt:
        """A chat is not archived: its card (redrawn on close) says closed and links the post-mortem."""
        with db.transaction() as s:
            room, incident = self._room(s, incident_id)
            if not room.conversation_id:
                raise RetryableError("the chat is not created yet")
            outbox.redraw_incident(s, incident.id)
            record(s, incident, "war_room", "War room closed: the chat's card links the post-mortem.")
        return Receipt(room.conversation_id)


def _first_free(names: list[str], call):
    """(name, answer) of the first name Graph does not answer 409 (taken) for."""
    for name in names:
        try:
            return name, call(name)
        except GraphError as exc:
            if exc.status != 409:
                raise
    raise PermanentError(f"every channel name tried is taken ({names[0]!r} …)")


def make_channel(cfg) -> GraphRoomsChannel:
    return GraphRoomsChannel(cfg)


def channel_key(cfg) -> tuple:
    return (cfg.graph_tenant_id, cfg.graph_client_id, cfg.graph_url, cfg.teams_meeting_organizer)
