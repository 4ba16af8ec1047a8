"""Signals other domains subscribe to. Receivers run inside the caller's transaction.

Every signal is sent with the Incident as sender and `session=` the open session.
"""
from blinker import Namespace

_ns = Namespace()

incident_opened = _ns.signal("incident-opened")          # kwargs: session
incident_changed = _ns.signal("incident-changed")        # kwargs: session, changes={field: (old, new)}
update_posted = _ns.signal("update-posted")              # kwargs: session, update (IncidentUpdate)
role_assigned = _ns.signal("role-assigned")              # kwargs: session, role, person, previous, reason
incident_acknowledged = _ns.signal("incident-acknowledged")  # kwargs: session, person, roles, via
