"""Large list answers streamed: a JSON array written one item at a time, byte for byte what `jsonify` writes.

`GET /api/notifications?limit=1000` is megabytes of JSON. Built whole, one request held every row, its
dumped dict, the encoder's list of chunks, the string and its bytes at once (~19 MB at its peak in
bench/memory.py, with up to 16 requests at a time). Streamed, it holds one batch of rows and one chunk
of text.

The mechanism is the status page's (`flask.stream_template`): `flask.stream_with_context`, so the
body is written inside the request's context (the principal, `g`, the app's config and JSON settings).
That context does not keep the database session open, though: Flask 3.1 pushes it again only when the
server starts reading the body, after the request's teardown (`db.session.remove()` in `create_app`) has
run. So the request's session is handed to the body: taken out of the thread's registry when the view
returns (the teardown then has nothing of it to close), put back while the body is written (so
`db.session` is the same session, the same transaction, from the first row to the last), and closed
by the body itself when the last byte is written, or when the server closes the response early (the
client went away, or the body was never read): the session is neither closed under the generator nor
left open after it.

What a view must do before it returns: validate its input and run its query (so a bad argument is a
4xx and an unreachable database a 503, both before the first byte). Only reading the rows and
dumping them happens while the body streams; an error there can no longer change the status, so it
ends the response early (the client sees an incomplete array) and is logged by the server.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

from flask import Response, current_app, jsonify, stream_with_context

from . import db

CHUNK_CHARACTERS = 64 * 1024  # text gathered before it is written: few writes, little held


def json_array(dump: Callable[[object], object], items: Iterable) -> Response:
    """A 200 response whose body is the JSON array of `dump(item)` for each of `items`, streamed.

    `dump` is a one-item schema's dump (`Schema().dump`); `items` is consumed lazily, inside the request
    context, and may read through the request's session (`db.session`), which the body now owns. The
    bytes equal `jsonify([dump(i) for i in items])`, the trailing newline included. With a non-compact
    JSON provider (debug mode indents) the array is built whole instead, to stay identical.
    """
    provider = current_app.json
    compact = getattr(provider, "compact", None)
    if compact is False or (compact is None and current_app.debug):
        return jsonify([dump(item) for item in items])
    owned = db.session()
    db.session.registry.clear()  # the request's teardown must not close it: the body reads through it
    response = Response(stream_with_context(_array(provider.dumps, dump, items, owned)), mimetype=provider.mimetype)
    response.call_on_close(owned.close)  # the server closes the response even when the body was never read
    return response


def _array(dumps, dump, items: Iterable, owned) -> Iterator[bytes]:
    db.session.registry.set(owned)  # while the body is written, `db.session` is the request's session again
    try:
        parts, size, separator = ["["], 1, ""
        for item in items:
            text = dumps(dump(item), separators=(",", ":"))
            parts += (separator, text)
            size += len(text) + 1
            separator = ","
            if size >= CHUNK_CHARACTERS:
                yield "".join(parts).encode()
                parts, size = [], 0
        parts.append("]\n")
        yield "".join(parts).encode()
    finally:
        db.session.registry.clear()
        owned.close()  # at once, not when the server gets round to closing the response
