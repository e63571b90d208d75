"""``eventline import``: a history export (JSONL or CSV) sent to the gateway as backfill.

Pure reading and keying in ``lines``, the resumable position in ``position``, the HTTP
sending in ``send``; the command itself is ``eventline.cli.importing``.
"""
