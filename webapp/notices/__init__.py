"""Adverse-action notices (Regulation B, 12 CFR 1002.9): what a lender must send an applicant it
declines, or whose application is incomplete, made from the decision record.

`batch` makes them from a recorded batch (and the facts of each generation's event).
`content` holds the notice as plain data (`Notice`, `Lender`), the letters' wording (model forms C-1,
C-4 and C-5 of Appendix C, and the ECOA notice of 1002.9(b)(1) word for word) and
`notices_from_decisions`, which builds notices from decision records; `render` turns them into
deterministic PDF, ZIP and CSV bytes (fpdf2). Nothing here logs an applicant's name or address.

May import: notices, records, db, core; fpdf2; jinja2 and markupsafe (no Flask).
"""
