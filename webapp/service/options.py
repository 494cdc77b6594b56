"""The scoring options: one frozen object, parsed once at each edge (query string, form, CLI flags,
job payload). `ScoreQuery` parses query strings and job payloads and, being a pydantic model, is
also what the OpenAPI document describes the parameters from — a parameter cannot exist without its
description."""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from webapp.core.errors import InputError
from webapp.core.writing import FORMATS

Format = Literal["csv", "xlsx", "json", "parquet"]


@dataclass(frozen=True)
class ScoringOptions:
    format: str = "csv"
    explain: bool = False
    reasons_for: str = "declined"      # "declined" (adverse actions only) or "all" scored rows
    include_input: bool = False
    on_error: str = "continue"         # "continue": failed rows come back with their error; "fail": 422
    sheet: str | None = None
    purpose: str = "decision"          # "decision" or "analysis" (re-scoring, validation runs)

    @property
    def explanation_level(self) -> str | None:
        """What scoring adds: contributions only travel in JSON answers."""
        if not self.explain:
            return None
        return "contributions" if self.format == "json" else "reasons"

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in _OPTION_FIELDS}  # flat: asdict's deep copy costs more


_OPTION_FIELDS = tuple(f.name for f in fields(ScoringOptions))


def _flag(value) -> bool:
    # The API has always read 1/true/yes (any case) as on and anything else as off.
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")


def _either(default: str, other: str):
    return lambda value: other if str(value) == other else default


Flag = Annotated[bool, BeforeValidator(_flag)]


class ScoreQuery(BaseModel):
    """The query parameters of `POST /api/v1/score` (and of job submissions)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    format: Format | None = Field(None, description="Answer format; default from Accept, else json for JSON input "
                                                    "and csv otherwise.")
    explain: Flag = Field(False, description="Principal reasons for each declined row (JSON: and every feature's "
                                             "contribution to the log-odds).")
    reasons_for: Annotated[Literal["declined", "all"], BeforeValidator(_either("declined", "all"))] = Field(
        "declined", description="With explain: reasons for declined rows only, or for all scored rows.")
    include_input: Flag = Field(False, description="Append the input's other columns to each output row "
                                                   "(an input column named like an output one gets `input_`).")
    on_error: Annotated[Literal["continue", "fail"], BeforeValidator(_either("continue", "fail"))] = Field(
        "continue", description="continue: failed rows come back with their error; fail: any failed row gives 422.")
    sheet: str | None = Field(None, description="Spreadsheets: the sheet to read (default: the first visible one).")
    purpose: Annotated[Literal["decision", "analysis"], BeforeValidator(_either("decision", "analysis"))] = Field(
        "decision", description="decision (the default) or analysis (re-scoring and validation runs), as recorded.")

    @classmethod
    def parse(cls, values) -> "ScoreQuery":
        """From a query string (a MultiDict) or a job payload; a bad format names what is accepted."""
        if not values:  # no query at all (most requests): the defaults, validated once
            return _default_query(cls)
        data = {k: values.get(k) for k in cls.model_fields if values.get(k) not in (None, "")}
        fmt = data.get("format")
        if fmt is not None and (not isinstance(fmt, str) or fmt not in FORMATS):
            raise InputError(f"format must be one of {', '.join(FORMATS)}, not '{str(fmt)[:20]}'.", code="bad-format")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:  # a job's JSON payload may give any kind of value: a list, a huge number
            names = ", ".join(sorted({str(error["loc"][0]) for error in exc.errors() if error.get("loc")}))
            raise InputError(f"These options cannot be read: {names or 'the query'}.", code="bad-query") from None

    def options(self, fmt: str) -> ScoringOptions:
        return ScoringOptions(format=fmt, explain=self.explain, reasons_for=self.reasons_for,
                              include_input=self.include_input, on_error=self.on_error, sheet=self.sheet,
                              purpose=self.purpose)


@functools.cache
def _default_query(cls) -> "ScoreQuery":
    return cls.model_validate({})  # a frozen model: safely shared
