"""Read spreadsheets: Excel .xlsx/.xlsm, .xlsb and legacy .xls, and OpenDocument .ods.

The kind comes from the content: a ZIP holding `xl/workbook.xml` (.xlsx/.xlsm) or `xl/workbook.bin`
(.xlsb), or a `mimetype` of an OpenDocument spreadsheet (.ods); an OLE2 compound file (.xls, or an
encrypted Office file). python-calamine reads all of them, but it allocates a sheet's whole used
rectangle densely and, when an allocation fails, aborts the whole process (a Rust abort, not an
exception: a gunicorn worker dies with every request it holds). So every kind is bounded *before*
calamine opens it: ZIP inflation for the ZIP-based ones, then the used area from the cells
themselves — cell references in .xlsx XML, cell records in .xlsb, summed repeat attributes in .ods
(a 759-byte .ods can ask for 4 GB), the DIMENSIONS and cell records of every sheet of a .xls
(its format allows 65,536 x 256 cells a sheet, and calamine sizes every sheet as it opens the book).
An .xlsx shared string over the cell limit is cut where it is stored, before calamine copies it
into every cell that points at it.
"""
from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Iterator
from typing import BinaryIO
from xml.sax.saxutils import escape

import pandas as pd

from webapp.core.contract import cell_text
from webapp.core.errors import EmptyInput, InputError, InputTooLarge, UnreadableInput, UnsupportedFormat
from webapp.core.limits import Limits
from webapp.core.table import SUPPORTED, TEXT, Table, reader_fault

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP = (b"PK\x03\x04", b"PK\x05\x06")
MAGIC = (OLE2, *ZIP)
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
NAMES = {"xlsx": "Excel workbook", "xlsb": "Excel binary workbook", "ods": "OpenDocument spreadsheet",
         "xls": "Excel 97-2003 workbook"}


class EncryptedFile(InputError):
    code = "encrypted-file"
    title = "The file is password-protected"


def open_spreadsheet(stream: BinaryIO, head: bytes, sheet: str | None, limits: Limits) -> Table:
    if head.startswith(OLE2):
        return _read(stream, _check_ole2(stream, limits), sheet, limits)
    kind = _check_zip(stream, sheet, limits)
    if kind == "xlsx":
        stream = _cut_shared_strings(stream, limits)
    return _read(stream, kind, sheet, limits)


def _read(stream: BinaryIO, kind: str, sheet: str | None, limits: Limits) -> Table:
    import python_calamine

    stream.seek(0)
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(stream)
        name = _choose_sheet(workbook, sheet)
        loaded = workbook.get_sheet_by_name(name)
        if loaded.height * loaded.width > limits.max_xlsx_cells:  # a second guard, after the checks above
            raise _too_large_area(loaded.height, loaded.width, limits)
        rows = loaded.to_python(skip_empty_area=False)
    except python_calamine.PasswordError as exc:
        raise EncryptedFile(_encrypted_message(kind)) from exc
    except (python_calamine.CalamineError, ValueError, OSError) as exc:
        raise UnreadableInput(reader_fault(NAMES[kind], exc)) from exc
    rows = [r for r in rows if any(v not in ("", None) for v in r)]  # blank rows are no applications
    if not rows:
        raise EmptyInput(f"The sheet '{name}' is empty.")
    header = [cell_text(v) for v in rows[0]]
    while header and header[-1] == "":
        header.pop()
    if len(header) > limits.max_columns:
        raise InputTooLarge(f"The sheet has {len(header):,} columns; at most {limits.max_columns:,} are accepted.")
    body = [r[: len(header)] for r in rows[1:]]

    def read_chunks(kinds: dict[int, str]) -> Iterator[pd.DataFrame]:
        for start in range(0, len(body), limits.chunk_rows):
            chunk = pd.DataFrame(body[start:start + limits.chunk_rows], columns=range(len(header)), dtype=object)
            for position, reading in kinds.items():
                if reading == TEXT:  # IDs as text: a numeric cell 1001 is "1001", not "1001.0"
                    chunk[position] = chunk[position].map(cell_text)
            yield chunk

    return Table(kind, header, read_chunks, {"sheet": name})


def _choose_sheet(workbook, sheet: str | None) -> str:
    """The sheet asked for (case-insensitively), else the first visible worksheet."""
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    sheets = [m for m in workbook.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
    if not sheets:
        raise EmptyInput("The workbook has no worksheet.")
    if sheet:
        chosen = next((m for m in sheets if m.name.casefold() == sheet.strip().casefold()), None)
        if chosen is None:
            raise InputError(f"No sheet named '{sheet[:60]}'. Sheets: {', '.join(m.name for m in sheets)}.",
                             code="unknown-sheet", sheets=[m.name for m in sheets])
        return chosen.name
    return next((m for m in sheets if m.visible == SheetVisibleEnum.Visible), sheets[0]).name


def _too_large_area(rows: int, columns: int, limits: Limits) -> InputTooLarge:
    return InputTooLarge(f"The sheet's used area is {rows:,} rows × {columns:,} columns; at most "
                         f"{limits.max_xlsx_cells:,} cells and {limits.max_rows:,} rows are accepted. "
                         "Delete stray cells far from the table, or save it as CSV.")


def _check_area(rows: int, columns: int, limits: Limits) -> None:
    if rows * columns > limits.max_xlsx_cells or rows > limits.max_rows + 1:
        raise _too_large_area(rows, columns, limits)


def _encrypted_message(kind: str) -> str:
    return (f"This {NAMES.get(kind, 'workbook')} is password-protected. Remove the password (in Excel: File › Info "
            "› Protect Workbook) or save it as CSV, then upload it again.")


# --- OLE2: .xls, or an encrypted Office file ------------------------------------------------------

def _check_ole2(stream: BinaryIO, limits: Limits) -> str:
    """A .xls; an encrypted .xlsx is an OLE2 file too, holding an `EncryptedPackage` stream."""
    stream.seek(0)
    data = stream.read()
    if "EncryptedPackage".encode("utf-16-le") in data:
        raise EncryptedFile(_encrypted_message("xlsx"))
    if "Workbook".encode("utf-16-le") not in data and "Book".encode("utf-16-le") not in data:
        raise UnsupportedFormat("This is an Office 97 document, but not an Excel workbook (a Word or PowerPoint "
                                f"file?). Upload {SUPPORTED}.", supported=SUPPORTED)
    _check_xls(data, limits)
    return "xls"


# .xls: BIFF8 (or BIFF5) records of the Workbook stream. calamine reserves each sheet's grid from its
# DIMENSIONS record and fills it from the cells, for every sheet, when it opens the workbook: 8 sheets
# with one cell at IV65536 (under 10 KB) asked it for 4.9 GB. So every sheet is bounded, and the sum.

_BOF, _EOF, _BOUNDSHEET, _DIMENSIONS = 0x0809, 0x000A, 0x0085, 0x0200
_XLS_CELLS = frozenset({0x0006, 0x00FD, 0x0203, 0x027E, 0x0201, 0x0204, 0x0205, 0x00D6})  # (row, column, ...)
_XLS_MULTI_CELLS = frozenset({0x00BD, 0x00BE})  # MULRK, MULBLANK: (row, first column, ..., last column)


def _check_xls(data: bytes, limits: Limits) -> None:
    import olefile

    try:
        with olefile.OleFileIO(io.BytesIO(data)) as container:
            name = next((n for n in ("Workbook", "Book") if container.exists(n)), None)
            if name is None:
                raise UnsupportedFormat(f"This Office 97 file holds no workbook. Upload {SUPPORTED}.",
                                        supported=SUPPORTED)
            stream = container.openstream(name).read()
    except InputError:
        raise
    except Exception as exc:  # olefile raises OSError, struct.error, IndexError, ... on damaged containers
        raise UnreadableInput(reader_fault(NAMES["xls"], exc)) from exc
    total = 0
    for offset in _xls_sheet_offsets(stream):
        rows, columns = _xls_sheet_area(stream, offset)
        _check_area(rows, columns, limits)
        total += rows * columns
        if total > limits.max_xlsx_cells:
            raise InputTooLarge(f"The workbook's sheets together span {total:,} cells; at most "
                                f"{limits.max_xlsx_cells:,} are accepted. Delete stray cells and unused sheets, "
                                "or save the sheet as CSV.")


def _xls_records(stream: bytes, offset: int) -> Iterator[tuple[int, bytes]]:
    while offset + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, offset)
        yield kind, stream[offset + 4:offset + 4 + size]
        offset += 4 + size


def _xls_sheet_offsets(stream: bytes) -> list[int]:
    """Where each sheet's BOF starts, from the globals' BOUNDSHEET records (as calamine finds them)."""
    offsets = []
    for kind, body in _xls_records(stream, 0):
        if kind == _BOUNDSHEET and len(body) >= 4:
            offsets.append(struct.unpack_from("<I", body)[0])
        elif kind == _EOF:
            break
    return offsets


def _xls_sheet_area(stream: bytes, offset: int) -> tuple[int, int]:
    """(rows, columns) a sheet asks for: the larger of what DIMENSIONS states and where cells are."""
    rows = columns = 0
    for number, (kind, body) in enumerate(_xls_records(stream, offset)):
        if kind == _EOF or (kind == _BOF and number):
            break
        if kind == _DIMENSIONS and len(body) >= 14:  # BIFF8: 32-bit rows
            _, last_row, _, last_column = struct.unpack_from("<IIHH", body)
            rows, columns = max(rows, last_row), max(columns, last_column)
        elif kind == _DIMENSIONS and len(body) >= 8:  # BIFF5: 16-bit rows
            _, last_row, _, last_column = struct.unpack_from("<HHHH", body)
            rows, columns = max(rows, last_row), max(columns, last_column)
        elif kind in _XLS_CELLS and len(body) >= 4:
            row, column = struct.unpack_from("<HH", body)
            rows, columns = max(rows, row + 1), max(columns, column + 1)
        elif kind in _XLS_MULTI_CELLS and len(body) >= 6:
            row = struct.unpack_from("<H", body)[0]
            last = struct.unpack_from("<H", body, len(body) - 2)[0]
            rows, columns = max(rows, row + 1), max(columns, last + 1)
    return rows, columns


# --- ZIP: .xlsx, .xlsb, .ods ----------------------------------------------------------------------

def _check_zip(stream: BinaryIO, sheet: str | None, limits: Limits) -> str:
    """Refuse ZIP bombs, then sheets whose used area would blow up memory, before any parser runs."""
    try:
        archive = zipfile.ZipFile(stream)
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnreadableInput("The file starts like a spreadsheet (a ZIP archive) but is damaged.") from exc
    names = {e.filename for e in entries}
    inflated = sum(e.file_size for e in entries)
    packed = max(1, sum(e.compress_size for e in entries))
    if inflated > limits.max_xlsx_uncompressed or (inflated > 10 << 20 and inflated / packed > limits.max_xlsx_ratio):
        raise InputTooLarge(f"The workbook inflates to {inflated / 2**20:,.0f} MB ({inflated / packed:,.0f}× its size); "
                            f"at most {limits.max_xlsx_uncompressed / 2**20:,.0f} MB and {limits.max_xlsx_ratio}× are "
                            "accepted.")
    try:
        if "xl/workbook.xml" in names:
            _check_xlsx(archive, sheet, limits)
            return "xlsx"
        if "xl/workbook.bin" in names:
            _check_xlsb(archive, limits)
            return "xlsb"
        if "mimetype" in names and archive.read("mimetype").strip() == ODS_MIMETYPE:
            _check_ods(archive, limits)
            return "ods"
    except (KeyError, zipfile.BadZipFile, OSError, EOFError, struct.error) as exc:
        raise UnreadableInput("The spreadsheet is damaged (a part cannot be read).") from exc
    raise UnsupportedFormat(f"This ZIP archive is not a spreadsheet. Upload {SUPPORTED}.", supported=SUPPORTED)


# .xlsx: the used area from the cell references of the sheet's XML

_CELL_REF = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"')


def _check_xlsx(archive: zipfile.ZipFile, sheet: str | None, limits: Limits) -> None:
    sheets = _xlsx_sheet_parts(archive)
    if not sheets:
        raise EmptyInput("The workbook has no worksheet.")
    chosen = None
    if sheet:
        chosen = next((s for s in sheets if s["sheet"].casefold() == sheet.strip().casefold()), None)
    if chosen is None:  # calamine reports an unknown sheet name; check the sheet it will read
        chosen = next((s for s in sheets if s["visible"]), sheets[0])
    max_row, columns, tail = 0, set(), b""
    with archive.open(chosen["part"]) as part:
        for block in iter(lambda: part.read(4 << 20), b""):
            data = tail + block
            cut = data.rfind(b"<")  # do not split a reference across blocks
            data, tail = (data[:cut], data[cut:]) if cut > 0 else (data, b"")
            refs = _CELL_REF.findall(data)
            if refs:
                columns.update(letters for letters, _ in refs)
                max_row = max(max_row, max(int(digits) for _, digits in set(refs)))
    _check_area(max_row, max((_column_number(c) for c in columns), default=0), limits)


def _xlsx_sheet_parts(archive: zipfile.ZipFile) -> list[dict]:
    """Worksheets in workbook order: name, visibility and the XML part that holds the cells."""
    from defusedxml import ElementTree

    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
          "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
          "p": "http://schemas.openxmlformats.org/package/2006/relationships"}
    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except KeyError as exc:
        raise UnreadableInput("The Excel workbook is damaged (a required part is missing).") from exc
    except Exception as exc:  # defusedxml refuses entity tricks; ParseError for broken XML
        raise UnreadableInput(f"The Excel workbook's XML was refused: {type(exc).__name__}.") from exc
    targets = {r.get("Id"): r.get("Target", "") for r in rels.findall("p:Relationship", ns)}
    sheets = []
    for element in workbook.findall("m:sheets/m:sheet", ns):
        target = targets.get(element.get(f"{{{ns['r']}}}id"), "")
        target = target.lstrip("/") if target.startswith("/") else "xl/" + target
        if "worksheets/" in target:
            sheets.append({"sheet": element.get("name", ""), "part": target,
                           "visible": element.get("state", "visible") == "visible"})
    return sheets


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _cut_shared_strings(stream: BinaryIO, limits: Limits) -> BinaryIO:
    """A shared string is stored once and copied into every cell that points at it (one 20,000-
    character ID under 100,000 cells asked for 8 GB). Strings over the cell limit are cut to one
    character more (validation still reports the rows) in a copy of the workbook; others pass as sent."""
    archive = zipfile.ZipFile(stream)
    part = "xl/sharedStrings.xml"
    if part not in archive.namelist():
        return stream
    if all(len(text) <= limits.max_cell_length for text in _shared_strings(archive, part)):
        return stream
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy:
        for item in archive.infolist():
            if item.filename != part:
                with archive.open(item) as source, copy.open(item.filename, "w") as target:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        target.write(block)
        with copy.open(part, "w") as target:
            target.write(f'<sst xmlns="{_MAIN[1:-1]}">'.encode())
            for text in _shared_strings(archive, part):
                cut = escape(text[:limits.max_cell_length + 1])
                target.write(f'<si><t xml:space="preserve">{cut}</t></si>'.encode())
            target.write(b"</sst>")
    out.seek(0)
    return out


def _shared_strings(archive: zipfile.ZipFile, part: str) -> Iterator[str]:
    """The text of each shared string, in order, streamed through a defused parser (phonetic runs
    are not part of the value)."""
    from defusedxml.ElementTree import iterparse

    try:
        with archive.open(part) as content:
            for _, element in iterparse(content, events=("end",)):
                if element.tag == f"{_MAIN}si":
                    runs = [element.find(f"{_MAIN}t"), *(r.find(f"{_MAIN}t") for r in element.findall(f"{_MAIN}r"))]
                    yield "".join(t.text or "" for t in runs if t is not None)
                    element.clear()
    except Exception as exc:  # defusedxml refuses entity tricks; ParseError for broken XML
        raise UnreadableInput(f"The Excel workbook's shared strings were refused: {type(exc).__name__}.") from exc


def _column_number(letters: bytes) -> int:
    number = 0
    for char in letters:
        number = number * 26 + (char - 64)
    return number


# .xlsb: the used area from the sheet's records (calamine sizes it from the cells, not BrtWsDim)

_ROW_HEADER = 0x0000  # BrtRowHdr: the row of the cells that follow
_VALUE_CELLS = frozenset(range(0x0002, 0x000B))  # BrtCellRk … BrtFmlaBool: the cells calamine keeps
_MAX_XLSB_ROW = 0x0010_0000  # calamine stops reading a sheet at a row index above this


def _check_xlsb(archive: zipfile.ZipFile, limits: Limits) -> None:
    """Every worksheet part is scanned: the row of each BrtRowHdr, the column of each value cell."""
    for part in (n for n in archive.namelist() if n.startswith("xl/worksheets/") and n.endswith(".bin")):
        max_row = max_column = -1
        row = 0
        with archive.open(part) as stream:
            for kind, data in _xlsb_records(stream):
                if kind == _ROW_HEADER and len(data) >= 4:
                    row = struct.unpack_from("<I", data)[0]
                    if row > _MAX_XLSB_ROW:
                        break
                elif kind in _VALUE_CELLS and len(data) >= 4:
                    max_row = max(max_row, row)
                    max_column = max(max_column, struct.unpack_from("<I", data)[0])
        _check_area(max_row + 1, max_column + 1, limits)


def _xlsb_records(stream) -> Iterator[tuple[int, bytes]]:
    """(type, data) of each BIFF12 record: type and size are 7-bit varints (MS-XLSB 2.1.4)."""
    read = stream.read
    while True:
        first = read(1)
        if not first:
            return
        kind = first[0]
        if kind & 0x80:
            kind = (kind & 0x7F) | ((read(1)[0] & 0x7F) << 7)
        size, shift = 0, 0
        for _ in range(4):
            byte = read(1)[0]
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        yield kind, read(size)


# .ods: the used area from the repeat attributes, summed as calamine expands them

_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_CELLS = (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell")


def _check_ods(archive: zipfile.ZipFile, limits: Limits) -> None:
    """calamine parses every sheet when it opens an .ods, expanding `number-rows-repeated` x
    `number-columns-repeated` for cells that hold something (empty runs cost nothing), so every
    table is bounded here from those attributes, streamed through a defused parser."""
    from defusedxml.ElementTree import iterparse

    try:
        with archive.open("content.xml") as content:
            rows = columns = row_repeat = position = 0
            row_has_content = False
            for event, element in iterparse(content, events=("start", "end")):
                tag = element.tag
                if event == "start":
                    if tag == f"{_TABLE}table":
                        rows = columns = 0
                    elif tag == f"{_TABLE}table-row":
                        row_repeat = _repeat(element, "number-rows-repeated")
                        position, row_has_content = 0, False
                    continue
                if tag in _CELLS:
                    repeat = _repeat(element, "number-columns-repeated")
                    if element.get(f"{_OFFICE}value-type") or any(True for _ in element):
                        columns = max(columns, position + repeat)
                        row_has_content = True
                    position += repeat
                    element.clear()
                elif tag == f"{_TABLE}table-row":
                    if row_has_content:
                        rows += row_repeat
                        _check_area(rows, columns, limits)
                    else:
                        rows += row_repeat if rows else 0  # leading empty rows shift the table down
                    element.clear()
    except InputError:
        raise
    except Exception as exc:  # defusedxml refuses entity tricks; ParseError for broken XML
        raise UnreadableInput(f"The OpenDocument spreadsheet's XML was refused: {type(exc).__name__}.") from exc


def _repeat(element, attribute: str) -> int:
    try:
        value = int(element.get(f"{_TABLE}{attribute}", "1"))
    except ValueError:
        return 1
    return max(1, value)
