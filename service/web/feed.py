"""The status page as an Atom feed (RFC 4287): one entry per published stakeholder update."""
from __future__ import annotations

import uuid
from xml.etree import ElementTree as ET

from ..inputs import clean_text
from .public import StatusSnapshot, iso_utc

ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 100


def xml_text(text: str) -> str:
    """`text` as XML 1.0 can carry it: no control characters (ElementTree writes them as they are, and one
    in a title made the feed unreadable for 90 days), no lone surrogates, no U+FFFE/U+FFFF."""
    return clean_text(text).replace("\ufffe", "\ufffd").replace("\uffff", "\ufffd")


def entry_id(base_url: str, update_id: int) -> str:
    """Permanent and unique per update and per Herald installation (`urn:uuid:` from the base URL)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{base_url}/status#update-{update_id}").urn


def atom_feed(snapshot: StatusSnapshot, base_url: str, title: str = "Service status") -> bytes:
    ET.register_namespace("", ATOM)

    def add(parent, tag, text=None, **attrs):
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: xml_text(v) for k, v in attrs.items()})
        if text is not None:
            element.text = xml_text(text)
        return element

    entries = snapshot.updates()[:MAX_ENTRIES]
    feed = ET.Element(f"{{{ATOM}}}feed")
    add(feed, "id", uuid.uuid5(uuid.NAMESPACE_URL, f"{base_url}/status.atom").urn)
    add(feed, "title", title)
    add(feed, "subtitle", snapshot.description)
    add(feed, "updated", iso_utc(entries[0][1].posted_at if entries else snapshot.generated_at))
    add(add(feed, "author"), "name", "Herald")
    add(feed, "link", rel="self", type="application/atom+xml", href=f"{base_url}/status.atom")
    add(feed, "link", rel="alternate", type="text/html", href=f"{base_url}/status")
    add(feed, "generator", "Herald")
    for incident, update in entries:
        entry = add(feed, "entry")
        add(entry, "id", entry_id(base_url, update.id))
        add(entry, "title", f"{incident.number}: {update.headline}")
        add(entry, "updated", iso_utc(update.posted_at))
        add(entry, "published", iso_utc(update.posted_at))
        add(entry, "link", rel="alternate", type="text/html", href=f"{base_url}/status#{incident.number}")
        add(entry, "category", term=incident.severity, label=f"{incident.severity} {incident.severity_name}".strip())
        add(entry, "content", update.text, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
