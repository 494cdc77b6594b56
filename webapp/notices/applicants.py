"""The applicants' names and addresses: the optional input columns `Applicant_Name` and
`Applicant_Address`, read only to address notices. Never scored, never logged, never recorded:
they travel as `Loan_ID -> Applicant` and as a small JSON kept beside a 24-hour result."""
from __future__ import annotations

import json
from typing import BinaryIO

from webapp.core.contract import ID_COLUMN, normalise_name
from webapp.core.limits import DEFAULT_LIMITS, Limits
from webapp.core.reading import TEXT, open_table
from webapp.notices.content import Applicant

NAME_COLUMN, ADDRESS_COLUMN = "Applicant_Name", "Applicant_Address"


def applicants_in(source: BinaryIO, *, sheet: str | None = None, limits: Limits = DEFAULT_LIMITS) -> dict[str, Applicant]:
    """`Loan_ID -> Applicant` for the rows that give a name or an address; {} when the input has
    neither column (then nothing is read past its header). Leaves `source` at its start."""
    source.seek(0)
    try:
        table = open_table(source, sheet=sheet, limits=limits)
        positions = {normalise_name(name): k for k, name in enumerate(table.columns)}
        id_at = positions.get(normalise_name(ID_COLUMN))
        name_at, address_at = positions.get(normalise_name(NAME_COLUMN)), positions.get(normalise_name(ADDRESS_COLUMN))
        if id_at is None or (name_at is None and address_at is None):
            return {}
        wanted = [p for p in (id_at, name_at, address_at) if p is not None]
        found: dict[str, Applicant] = {}
        for frame in table.chunks({p: TEXT for p in wanted}):
            ids = frame[id_at].to_numpy(dtype=object)
            names = frame[name_at].to_numpy(dtype=object) if name_at is not None else [None] * len(ids)
            addresses = frame[address_at].to_numpy(dtype=object) if address_at is not None else [None] * len(ids)
            for loan_id, name, address in zip(ids, names, addresses):
                name, address = _text(name), _text(address)
                if _text(loan_id) and (name or address):
                    found.setdefault(_text(loan_id), Applicant(name, address))
        return found
    finally:
        source.seek(0)


def _text(value) -> str | None:
    if value is None or value != value:  # None or NaN
        return None
    return str(value).strip() or None


def dumps(applicants: dict[str, Applicant]) -> bytes:
    return json.dumps({k: [a.name, a.address] for k, a in applicants.items()}, ensure_ascii=False).encode("utf-8")


def loads(data: bytes | None) -> dict[str, Applicant]:
    if not data:
        return {}
    return {k: Applicant(*v) for k, v in json.loads(data).items()}
