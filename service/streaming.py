"""Large JSON answers streamed: arrays written one item at a time, byte for byte what `jsonify` writes.

`GET /api/notifications?limit=1000` is megabytes of JSON. Built whole, one request held every row, its
dumped dict, the encoder's list of chunks, the string and its bytes at once (~20 MB at its peak in
bench/memory.py, with up to 16 requests at a time). Streamed, it holds one batch of rows and one chunk
of text. An answer shorter than one chunk is sent whole, exactly as before (Content-Length included).

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
4xx and an unreachable database a 503, both before the first byte); the first chunk is also written
before the view returns. Only the rest is read and dumped while the body streams; an error there can
no longer change the status, so it ends the response early (the client sees an incomplete array) and
is logged by the server.
"""
from __future__ import annotations

from itertools import chain
from typing import Callable, Iterable, Iterator

from flask import Response, current_app, jsonify, stream_with_context

from . import db

CHUNK_CHARACTERS = 64 * 1024  # text gathered before it is written: few writes, little held


def json_array(dump: Callable[[object], object], items: Iterable) -> Response:
    """A 200 response whose body is the JSON array of `dump(item)` for each of `items`, streamed.

    `dump` is a one-item schema's dump (`Schema().dump`); `items` is consumed lazily, inside the request
    context, and may read through the request's session (`db.session`), which the body now owns. The
    bytes equal `jsonify([dump(i) for i in items])`, the trailing newline included.
    """
    return json_streamed(map(dump, iter(items)))


def json_streamed(value) -> Response:
    """A 200 response whose body is `value` as JSON, where every iterator in it (a generator, a `map`: not a
    list, tuple or dict) is written as an array one item at a time, at the top or as a value of a dict.
    The bytes equal `jsonify(value)` with each iterator read into a list.

    The first CHUNK_CHARACTERS are written in the view: an answer that fits is sent whole, as `jsonify`
    sent it (with its Content-Length); a longer one streams the rest. With a non-compact JSON provider
    (debug mode indents) the value is built whole instead, to stay identical."""
    provider = current_app.json
    compact = getattr(provider, "compact", None)
    if compact is False or (compact is None and current_app.debug):
        return jsonify(_whole(value))
    chunks = _chunks(_pieces(value, provider.dumps, getattr(provider, "sort_keys", False)))
    first, second = next(chunks), next(chunks, None)
    if second is None:
        return current_app.response_class(first, mimetype=provider.mimetype)
    owned = db.session()
    db.session.registry.clear()  # the request's teardown must not close it: the body reads through it
    body = _owning(owned, chain((first, second), chunks))
    response = Response(stream_with_context(body), mimetype=provider.mimetype)
    response.call_on_close(owned.close)  # the server closes the response even when the body was never read
    return response


def _pieces(value, dumps, sort_keys: bool) -> Iterator[str]:
    if isinstance(value, Iterator):
        separator = ""
        yield "["
        for item in value:
            yield separator
            yield from _pieces(item, dumps, sort_keys)
            separator = ","
        yield "]"
    elif isinstance(value, dict) and any(isinstance(v, Iterator) for v in value.values()):
        separator = ""
        yield "{"
        for key in (sorted(value) if sort_keys else value):
            yield f"{separator}{dumps(key)}:"
            yield from _pieces(value[key], dumps, sort_keys)
            separator = ","
        yield "}"
    else:
        yield dumps(value, separators=(",", ":"))


def _chunks(pieces: Iterator[str]) -> Iterator[bytes]:
    parts, size = [], 0
    for piece in pieces:
        parts.append(piece)
        size += len(piece)
        if size >= CHUNK_CHARACTERS:
            yield "".join(parts).encode()
            parts, size = [], 0
    parts.append("\n")
    yield "".join(parts).encode()


def _owning(owned, chunks: Iterator[bytes]) -> Iterator[bytes]:
    db.session.registry.set(owned)  # while the body is written, `db.session` is the request's session again
    try:
        yield from chunks
    finally:
        db.session.registry.clear()
        owned.close()  # at once, not when the server gets round to closing the response


def _whole(value):
    if isinstance(value, Iterator):
        return [_whole(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole(item) for key, item in value.items()}
    return value
