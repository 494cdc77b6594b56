"""The fence around dataset sources: a job reads a URL only under one of the `JOB_SOURCES` prefixes,
so a job never reads the server's own files (`file:///etc/passwd`), climbs out of a prefix (`../`),
chains filesystems (`::`) or switches scheme. Local prefixes are compared after resolving symlinks."""
from __future__ import annotations

import os
import re

from webapp.core.errors import InputError


class SourceRefused(InputError):
    status = 403
    code = "source-refused"
    title = "This source may not be read"


def parse_prefixes(value: str | list[str] | None) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    return [item.strip() for item in value or () if item.strip()]


def _split(url: str) -> tuple[str, str]:
    """(scheme, path): plain paths and file:// URLs are scheme `file`."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", url)
    if not match:
        return "file", url
    scheme = match.group(1).lower()
    return ("file", match.group(2)) if scheme in ("file", "local") else (scheme, match.group(2))


def check_source(url: str, prefixes: list[str]) -> str:
    """The source to read (a local path or a URL) if it lies under a prefix; else `SourceRefused`."""
    if not prefixes:
        raise SourceRefused("This server reads no dataset sources (JOB_SOURCES is unset); upload the file instead.")
    if not isinstance(url, str) or not url or len(url) > 2000 or "\x00" in url or "::" in url:
        raise SourceRefused("The source must be one URL or path under an allowed prefix.")
    scheme, path = _split(url)
    if ".." in re.split(r"[/\\]", path):
        raise SourceRefused("The source may not contain '..'.")
    for prefix in prefixes:
        prefix_scheme, prefix_path = _split(prefix)
        if prefix_scheme != scheme:
            continue
        if scheme == "file":
            if not os.path.isabs(path):
                continue
            root = os.path.realpath(prefix_path)
            resolved = os.path.realpath(path)
            if resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep):
                return resolved
        elif url.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return url
    raise SourceRefused("The source is not under any of this server's allowed dataset locations (JOB_SOURCES).")


def check_parts(parts: list[str], prefixes: list[str]) -> list[str]:
    """The parts a source was found to hold, each checked as a source itself: a file inside an
    allowed folder, or matched by a glob there, may be a link to anywhere (its target is what is read)."""
    for part in parts:
        check_source(part, prefixes)
    return parts
