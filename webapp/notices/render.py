"""Notices as bytes: one PDF of them all, a ZIP of one PDF each, a CSV for a mail merge.

Deterministic: the same notices give the same bytes. The PDF's creation date is the (latest)
decision date, its metadata names the template version, ZIP entries carry the decision date, and
nothing random (no ids, no clock) goes in. fpdf2 is pure Python with the PDF core fonts, so nothing
outside the wheel is needed; its own line breaking costs ~4 ms a paragraph, so paragraphs are wrapped
here once per distinct text (the ECOA notice is the same on every page).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Sequence

from fpdf import FPDF

from webapp.core.reasons import MAX_REASONS
from webapp.notices.content import Lender, Notice, letter

PAGE_WIDTH_MM, MARGIN_MM, BOTTOM_MM = 215.9, 25.0, 279.4 - 20.0  # US letter
FONT, SIZE, LINE_MM = "Helvetica", 10.5, 5.0
CSV_COLUMNS = ("Loan_ID", "Notice_Type", "Notice_Date", *(f"Reason_{i}" for i in range(1, MAX_REASONS + 1)),
               *(f"HMDA_Denial_Reason_{i}" for i in range(1, MAX_REASONS + 1)), "Missing_Information",
               "Respond_By", "Applicant_Name", "Applicant_Address")


def render_pdf(notices: Sequence[Notice], lender: Lender, style: str, template_version: str, *,
               _wrapped: dict | None = None) -> bytes:
    """Every notice, each starting on a new page."""
    writer = _Writer(lender, template_version, max((n.decided_at for n in notices), default=dt.date(2000, 1, 1)),
                     {} if _wrapped is None else _wrapped)
    for notice in notices:
        writer.notice(notice, style)
    if not notices:
        writer.page("")
        writer.para("No application in this batch needs a notice.")
    return writer.output()


def render_zip(notices: Sequence[Notice], lender: Lender, style: str, template_version: str) -> bytes:
    """One PDF per application, `<Loan_ID>.pdf`, with the decision date as every entry's time."""
    buffer = io.BytesIO()
    taken: set[str] = set()
    wrapped: dict = {}  # one wrapping per distinct paragraph across all the PDFs
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for notice in notices:
            entry = zipfile.ZipInfo(_entry_name(notice.loan_id, taken), date_time=_zip_time(notice.decided_at))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, render_pdf([notice], lender, style, template_version, _wrapped=wrapped))
    return buffer.getvalue()


def render_csv(notices: Sequence[Notice], lender: Lender, style: str, template_version: str) -> bytes:
    """One row per notice: what a mail merge needs. Reasons are listed in both styles (the lender must
    be able to answer a C-5 request); cells a spreadsheet would run as formulas are defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for n in notices:
        reasons = [text for _, text in n.reasons][:MAX_REASONS]
        hmda = [str(code) for code in n.hmda_denial_reasons][:MAX_REASONS]
        kind = n.action if n.action != "decline" else f"decline ({style})"
        row = [n.loan_id, kind, n.decided_at.isoformat(), *_padded(reasons), *_padded(hmda), "; ".join(n.missing),
               n.respond_by.isoformat() if n.respond_by else "", n.applicant_name or "",
               n.applicant_address or ""]
        writer.writerow([_defused(cell) for cell in row])
    return out.getvalue().encode("utf-8")


def _padded(values: list[str]) -> list[str]:
    return [*values, *[""] * (MAX_REASONS - len(values))]


def _defused(cell: str) -> str:
    """Prefix `'` to text a spreadsheet would run as a formula (OWASP CSV injection)."""
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def _entry_name(loan_id: str, taken: set[str]) -> str:
    """`<Loan_ID>.pdf`, made safe as a file name and unique within the archive."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", loan_id).lstrip(".") or "notice"
    name, k = f"{stem}.pdf", 1
    while name in taken:
        k += 1
        name = f"{stem}-{k}.pdf"
    taken.add(name)
    return name


def _zip_time(day: dt.date) -> tuple[int, ...]:
    return (max(day.year, 1980), day.month, day.day, 0, 0, 0)


def _latin1(text: str) -> str:
    """The PDF core fonts cover Latin-1: other letters lose their accents (ř -> r), and what has no Latin-1 form prints as ?."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = text.replace("\u2013", "-").replace("\u2014", "-")
    if all(ord(c) < 256 for c in text):
        return text
    return "".join(c if ord(c) < 256 else _nearest_latin1(c) for c in unicodedata.normalize("NFC", text))


def _nearest_latin1(c: str) -> str:
    base = "".join(d for d in unicodedata.normalize("NFKD", c) if not unicodedata.combining(d))
    return base if base and all(ord(d) < 256 for d in base) else "?"


class _Writer:
    """Lays blocks out on letter pages: wrapped once per distinct text, then placed line by line."""

    def __init__(self, lender: Lender, template_version: str, dated: dt.date, wrapped: dict):
        self.pdf = pdf = FPDF(unit="mm", format="letter")
        pdf.set_auto_page_break(False)
        pdf.set_margins(MARGIN_MM, MARGIN_MM)
        pdf.set_creation_date(dt.datetime(dated.year, dated.month, dated.day, tzinfo=dt.timezone.utc))
        pdf.set_title(_latin1(f"Notices of action taken - {lender.name}"))
        pdf.set_author(_latin1(lender.name))
        pdf.set_subject(f"Regulation B (12 CFR 1002.9) notices, template {template_version}")
        pdf.set_creator("loan-scoring webapp.notices")
        self.template_version = template_version
        self.lender = lender
        self.loan_id = ""
        self.y = MARGIN_MM
        self._wrapped: dict[tuple[str, str], list[str]] = wrapped

    def output(self) -> bytes:
        return bytes(self.pdf.output())

    def notice(self, notice: Notice, style: str) -> None:
        self.page(notice.loan_id)
        for kind, payload in letter(notice, self.lender, style):
            getattr(self, kind)(payload)

    def page(self, loan_id: str) -> None:
        self.loan_id = loan_id
        self.pdf.add_page()
        self.pdf.set_font(FONT, size=8)
        footer = f"Reference {loan_id} - notice template {self.template_version}" if loan_id else ""
        self.pdf.text(MARGIN_MM, BOTTOM_MM + 8, _latin1(footer))
        self.y = MARGIN_MM

    def _line(self, text: str, style: str = "", indent: float = 0.0) -> None:
        if self.y + LINE_MM > BOTTOM_MM:
            self.page(self.loan_id)  # a long notice continues on a page of its own
        self.pdf.set_font(FONT, style=style, size=SIZE)
        self.y += LINE_MM
        if text:
            self.pdf.text(MARGIN_MM + indent, self.y, text)

    def _wrap(self, text: str, style: str, width: float) -> list[str]:
        key = (style, f"{width}:{text}")
        if key not in self._wrapped:
            self.pdf.set_font(FONT, style=style, size=SIZE)
            lines, current = [], ""
            for word in _latin1(text).split():
                candidate = f"{current} {word}" if current else word
                if current and self.pdf.get_string_width(candidate) > width:
                    lines.append(current)
                    candidate = word
                current = candidate
            self._wrapped[key] = [*lines, current] if current else [""]
        return self._wrapped[key]

    def lines(self, lines: list[str]) -> None:
        for text in lines:
            self._line(_latin1(text))

    def para(self, text: str, style: str = "") -> None:
        for text_line in self._wrap(text, style, PAGE_WIDTH_MM - 2 * MARGIN_MM):
            self._line(text_line, style)
        self.y += LINE_MM / 3

    def bold(self, text: str) -> None:
        self.para(text, "B")

    def list(self, items: list[str]) -> None:
        for item in items:
            for k, text_line in enumerate(self._wrap(item, "", PAGE_WIDTH_MM - 2 * MARGIN_MM - 6)):
                self._line(text_line, indent=6)
                if k == 0:
                    self.pdf.text(MARGIN_MM + 2, self.y, "-")
        self.y += LINE_MM / 3

    def gap(self, _: str) -> None:
        self.y += LINE_MM / 2
