"""Content-Encoding of request bodies: gzip (what Segment's SDKs send with ``gzip=True``) is
inflated before any route reads the body, within the route's size limit; any other coding is
refused. Pure: no I/O, used by ``eventline.producers.gateway.limits``."""

from __future__ import annotations

import zlib

from eventline.producers.problems import Problem

GZIP = frozenset({"gzip", "x-gzip"})
IDENTITY = "identity"
CHUNK = 64 * 1024  # inflated bytes produced per step: memory stays bounded by the limit


class Refused(Exception):
    """The body cannot be handed on: ``status`` (400, 413 or 415) and the problem."""

    def __init__(self, status: int, problem: Problem) -> None:
        super().__init__(f"{problem.field}: {problem.reason}")
        self.status = status
        self.problem = problem


def codings(header: str | None) -> list[str]:
    """The codings of a Content-Encoding header, in the order they were applied, without
    ``identity``. Raises Refused (415) for a coding the gateway does not decode."""
    found = [c.strip().lower() for c in (header or "").split(",") if c.strip()]
    unknown = [c for c in found if c not in GZIP and c != IDENTITY]
    if unknown:
        reason = f"must be gzip or identity, not {', '.join(unknown)!s}"
        raise Refused(415, Problem(field="Content-Encoding", reason=reason))
    return [c for c in found if c != IDENTITY]


def compressed_limit(limit: int) -> int:
    """The most compressed bytes read for a body whose inflated size may be ``limit``: gzip
    can make incompressible data a little larger (a header, a trailer, 5 bytes a block)."""
    return limit + limit // 1000 + 1024


def decode(body: bytes, header: str | None, limit: int) -> bytes:
    """``body`` with its Content-Encoding undone, at most ``limit`` bytes. Raises Refused:
    415 for an unknown coding, 400 for a corrupt or truncated gzip body, 413 as soon as the
    inflated body passes ``limit`` (a gzip bomb never inflates past it)."""
    for _coding in reversed(codings(header)):
        if body:
            body = inflate(body, limit)
    return body


def inflate(data: bytes, limit: int) -> bytes:
    """Every gzip member of ``data`` inflated, incrementally, refusing past ``limit`` bytes."""
    out: list[bytes] = []
    size = 0
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = data
        try:
            while not inflater.eof:
                chunk = inflater.decompress(pending, CHUNK)
                pending = inflater.unconsumed_tail
                if not chunk and not pending:
                    break  # nothing buffered and no input left: the stream is cut short
                size += len(chunk)
                if size > limit:
                    reason = f"is larger than {limit} bytes once inflated (gzip)"
                    raise Refused(413, Problem(field="body", reason=reason, status=413))
                out.append(chunk)
            if not inflater.eof:
                raise zlib.error("the body ends before the end of its gzip stream")
        except zlib.error as exc:
            reason = f"is not valid gzip (Content-Encoding: gzip): {exc}"
            raise Refused(400, Problem(field="body", reason=reason)) from None
        data = inflater.unused_data  # a further gzip member, as `cat a.gz b.gz` makes
    return b"".join(out)
