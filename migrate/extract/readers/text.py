"""CSV / TSV / TXT exports: encoding and delimiter detected (or declared), read in chunks by
pandas' C parser with every value kept as text (no NA guessing), so memory stays flat."""

from __future__ import annotations

import codecs
import csv
import itertools
import mmap
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
import numpy as np
import pandas as pd

from migrate.errors import ConfigError, SourceError
from migrate.extract.layout import DETECT_ROWS, _flatten, header_index
from migrate.extract.readers import column_letter
from migrate.project import SourceSpec
from migrate.yamlio import excerpt

SAMPLE_BYTES = 1 << 20
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_BOM_LABELS = {
    codecs.BOM_UTF8: "UTF-8",
    codecs.BOM_UTF16_LE: "UTF-16 (little-endian)",
    codecs.BOM_UTF16_BE: "UTF-16 (big-endian)",
}
# GBK and GB2312 are subsets of GB18030: reading with the superset never loses a character
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "hz": "gb18030", "ascii": "utf-8"}
# short Chinese samples are often guessed as another CJK code page; the exports we read are Chinese
_CJK_GUESSES = {
    "cp949",
    "euc_kr",
    "big5",
    "big5hkscs",
    "cp950",
    "shift_jis",
    "cp932",
    "euc_jp",
    "johab",
    "iso2022_kr",
}
# Western text (Café, Müller, €) fits several Latin code pages equally well and the detector
# often ranks cp775/cp1250 first; Western Excel on Windows writes cp1252, so a plausible cp1252
# wins over its Latin siblings (Central European text that cp1252 cannot explain stays cp1250)
_LATIN_GUESSES = {
    "cp775",
    "cp1250",
    "cp1257",
    "cp437",
    "cp850",
    "iso8859-1",
    "iso8859-2",
    "iso8859-4",
    "iso8859-9",
    "iso8859-10",
    "iso8859-13",
    "iso8859-15",
    "iso8859-16",
    "mac-latin2",
    "mac-roman",
}
# The header search reads its sample with the csv module, whose default field limit (128 KiB)
# would call a long remark cell "not well-formed"; pandas reads the data without such a limit.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
_DELIMITERS = ",\t;|"
_NAMED_DELIMITERS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def detect_encoding(path: Path, shown: str, declared: str | None) -> str:
    """The declared encoding (checked), a BOM's, UTF-8 if the sample decodes, else the detector's guess."""
    if declared:
        try:
            name = codecs.lookup(declared).name
        except LookupError:
            raise ConfigError(
                f"{shown}: unknown encoding {declared!r}.", hint="Use e.g. gb18030, utf-8, utf-16, cp1252."
            ) from None
        _refuse_contrary_bom(path, shown, declared, name)
        return name
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if not sample:
        raise SourceError(f"{shown} is empty (0 bytes).", hint="Export the data again.")
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if unmarked := _utf16_without_bom(sample):
        return unmarked
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3 and len(sample) == SAMPLE_BYTES:
            return "utf-8"  # the sample ends inside a character
    matches = charset_normalizer.from_bytes(sample)
    best = matches.best()
    if best is None:
        raise SourceError(
            f"{shown}: the text encoding cannot be recognised.",
            hint="Declare it in project.yaml, e.g. `encoding: gb18030`.",
        )
    name = codecs.lookup(best.encoding).name
    if name in _CJK_GUESSES and _decodes(sample, "gb18030"):
        return "gb18030"
    if name in _LATIN_GUESSES and any(codecs.lookup(m.encoding).name == "cp1252" for m in matches):
        return "cp1252"
    return _SUPERSETS.get(name, name)


def _refuse_contrary_bom(path: Path, shown: str, declared: str, name: str) -> None:
    """A file whose byte-order mark says another encoding than the declared one: named, with the
    encoding to write (decoded as declared, it would fail on its first bytes or turn to mojibake)."""
    if name.startswith("utf-32"):
        return  # a UTF-32 little-endian mark begins with UTF-16's
    with path.open("rb") as fh:
        head = fh.read(4)
    for bom, bom_name in _BOMS:
        if head.startswith(bom) and name.split("-")[:2] != bom_name.split("-")[:2]:
            raise SourceError(
                f"{shown} starts with a {_BOM_LABELS[bom]} byte-order mark, so it is {bom_name} "
                f"text, but project.yaml declares `encoding: {excerpt(declared)}`.",
                hint=f"Write `encoding: {bom_name}` (or leave `encoding:` out: a byte-order mark is recognised).",
            )


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 saved without a BOM: Latin text is every other byte NUL, which UTF-8 would
    accept and stage as text full of NULs. Delimited text has no NUL of its own."""
    if b"\x00" not in sample[:4096]:
        return None
    head = sample[:4096]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    if odd > half * 0.3 and even < odd / 10:
        return "utf-16-le"
    if even > half * 0.3 and odd < even / 10:
        return "utf-16-be"
    return None


def _decodes(sample: bytes, encoding: str) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
        return True
    except UnicodeDecodeError:
        return False


def detect_delimiter(path: Path, encoding: str, declared: str | None) -> str:
    if declared:
        return _NAMED_DELIMITERS.get(declared.lower(), declared)
    if path.suffix.lower() == ".tsv":
        return "\t"
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        lines = [line for _, line in zip(range(50), fh, strict=False)]
    sample = "".join(lines)
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    # the sniffer wants every line alike, so title lines above the header (a report name,
    # an export date) make it fail or guess wrong; the delimiter most lines agree on wins then
    modal = max(_DELIMITERS, key=lambda d: _agreement(lines, d))
    if sniffed is not None and _agreement(lines, sniffed) >= _agreement(lines, modal):
        return sniffed
    return modal if _agreement(lines, modal)[0] else ","


def _agreement(lines: list[str], delimiter: str) -> tuple[int, int]:
    """(lines sharing the most common non-zero count of `delimiter`, that count)."""
    counts = Counter(n for line in lines if (n := line.count(delimiter)))
    if not counts:
        return 0, 0
    count, lines_ = counts.most_common(1)[0]
    return lines_, count


def read_text(
    path: Path, shown: str, spec: SourceSpec, chunk_size: int, skipped: Counter
) -> tuple[list[str], Iterator[list[tuple]], str, str]:
    """(header, chunks of (physical line, *texts), encoding, delimiter). The header is the
    declared `header_row` (a record number) or found under title lines as in workbooks."""
    encoding = detect_encoding(path, shown, spec.encoding)
    delimiter = detect_delimiter(path, encoding, spec.delimiter)
    place = _locate_header(path, shown, encoding, delimiter, spec)
    if place is None:
        return [], iter(()), encoding, delimiter
    skipped["above_header"] += place.titles
    header = _header(place.rows)
    _refuse_nul(path, shown, encoding, delimiter, header)
    options = dict(
        sep=delimiter,
        encoding=encoding,
        header=None,
        dtype=object,
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=False,
        engine="c",
    )
    try:
        # one spare column: a record with one field too many fills it and is reported below;
        # more than that and the parser itself refuses the line
        reader = pd.read_csv(
            path,
            skiprows=place.record + len(place.rows),
            names=range(len(header) + 1),
            index_col=False,
            chunksize=chunk_size,
            **options,
        )
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise _read_error(exc, path, shown, encoding) from None
    except pd.errors.EmptyDataError:
        return header, iter(()), encoding, delimiter
    rows = _chunks(reader, header, place.data_line, spec, skipped, shown, path, encoding)
    return header, rows, encoding, delimiter


@dataclass(frozen=True)
class HeaderPlace:
    record: int  # 0-based record index of the (first) header record
    rows: list[list]  # the header records' fields, empty as None
    titles: int  # non-empty records above the header (title lines, an export date)
    data_line: int  # 1-based physical line where the first data record starts


def _locate_header(path: Path, shown: str, encoding: str, delimiter: str, spec: SourceSpec):
    """Read the first records with the csv module (physical line numbers known, quoted line
    breaks honoured) and place the header as SheetLayout does; None when there is none."""
    try:
        with path.open(encoding=encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            records = _records(reader)
            if spec.header_row is not None:
                ahead = list(itertools.islice(records, spec.header_row - 1))
                record = len(ahead)
            else:
                ahead = _detect_sample(records)
                record = header_index([_filled(v) for _, v in ahead])
                if record is None:
                    return None
            titles = sum(1 for _, v in ahead[:record] if _filled(v))
            rows = [v for _, v in ahead[record : record + spec.header_rows]]
            rows += [v for _, v in itertools.islice(records, spec.header_rows - len(rows))]
            if len(rows) < spec.header_rows:
                return None
            after = record + spec.header_rows  # the first data record, if the sample reached it
            data_line = ahead[after][0] if after < len(ahead) else reader.line_num + 1
            return HeaderPlace(record, rows, titles, data_line)
    except UnicodeDecodeError as exc:
        raise _read_error(exc, path, shown, encoding) from None
    except csv.Error as exc:
        raise SourceError(
            f"{shown}, line {reader.line_num}: not a well-formed delimited file ({exc}).",
            hint="Check the delimiter and quoting.",
        ) from None


def _records(reader) -> Iterator[tuple[int, list]]:
    """(physical line where the record starts, fields with empty as None)."""
    start = 1
    for fields in reader:
        yield start, [f if f != "" else None for f in fields]
        start = reader.line_num + 1


def _detect_sample(records: Iterator[tuple[int, list]]) -> list[tuple[int, list]]:
    ahead, filled = [], 0
    for line, values in records:
        ahead.append((line, values))
        filled += _filled(values) > 0
        if filled >= DETECT_ROWS:
            break
    return ahead


def _filled(values: list) -> int:
    return sum(v is not None for v in values)


def _may_hold_line_breaks(path: Path) -> bool:
    """A line break inside a field needs quotes; a file without any quote character cannot
    have one, and its records are its lines (the common case, counted for free)."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return mm.find(b'"') != -1


def _refuse_nul(path: Path, shown: str, encoding: str, delimiter: str, header: list[str]) -> None:
    """pandas' C parser ends a field at a NUL character, silently dropping the rest of the value
    (and PostgreSQL text cannot hold one): a NUL is refused, located, before anything is staged.
    In UTF-16/32 a zero byte is part of most characters, so those are left alone."""
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        return
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        at = mm.find(b"\x00")
        if at == -1:
            return
        start = mm.rfind(b"\n", 0, at) + 1
        line = mm[:start].count(b"\n") + 1
        before = mm[start:at].decode(encoding, errors="replace")
    field = before.count(delimiter)  # quoting aside: enough to point at the column
    column = f", column {header[field]!r}" if field < len(header) else ""
    raise SourceError(
        f"{shown}, line {line}{column}: a NUL character (byte 0x00) in the text; the rest of "
        "the value would be lost.",
        hint="A file with many NULs is often UTF-16: declare `encoding: utf-16`. Otherwise remove the NUL bytes.",
    )


def _header(rows: list[list]) -> list[str]:
    header = _flatten(rows)
    width = max(len(r) for r in rows)
    # a header cell left empty above data still names a column (by its letter), as in workbooks
    return header + [f"column_{column_letter(i).lower()}" for i in range(len(header), width)]


def _chunks(reader, header, first_data, spec, skipped, shown, path, encoding) -> Iterator[list[tuple]]:
    multiline = _may_hold_line_breaks(path)
    number = first_data
    width = len(header)
    stop = re.compile(spec.stop_at) if spec.stop_at else None
    stopped = False
    try:
        for frame in reader:
            if frame.empty:
                continue
            spare = frame.iloc[:, width]
            frame = frame.iloc[:, :width]
            texts = frame.astype(object).where(frame.notna() & frame.ne(""), None)
            if multiline:
                spans = 1 + _breaks(texts)
                lines = number + np.concatenate(([0], np.cumsum(spans)[:-1]))
                number = int(lines[-1] + spans[-1])
            else:
                lines = np.arange(number, number + len(texts))
                number += len(texts)
            extra = (spare.notna() & spare.ne("")).to_numpy()
            if extra.any():
                raise SourceError(
                    f"{shown}, line {int(lines[extra.argmax()])}: more fields than the header's {width}.",
                    hint="Check the delimiter (declare `delimiter:`) or quote the extra fields.",
                )
            texts.insert(0, "_row", lines)
            empty = texts.iloc[:, 1:].isna().all(axis=1)
            if stopped:
                skipped["after_stop"] += int((~empty).sum())
                continue
            if stop is not None:
                texts, stopped = _cut_at_stop(texts, empty, stop, skipped)
                empty = empty.loc[texts.index]
            if spec.skip_empty_rows:
                skipped["empty_row"] += int(empty.sum())
                texts = texts[~empty]
            yield list(texts.itertuples(index=False, name=None))
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise _read_error(exc, path, shown, encoding) from None


def _breaks(texts: pd.DataFrame) -> np.ndarray:
    """Line breaks inside each record's fields (a quoted multi-line remark)."""
    counts = np.zeros(len(texts), dtype=np.int64)
    for _, column in texts.items():
        # `contains` is three times cheaper than `count`: count only where a break is found
        if column.str.contains("\n", regex=False).any():
            counts += column.str.count("\n").fillna(0).to_numpy(dtype=np.int64)
    return counts


def _cut_at_stop(
    texts: pd.DataFrame, empty: pd.Series, stop: re.Pattern, skipped
) -> tuple[pd.DataFrame, bool]:
    """Rows before the first whose first non-empty field matches `stop_at` (a total row)."""
    first = texts.iloc[:, 1:].bfill(axis=1).iloc[:, 0]
    hits = first.map(lambda v: v is not None and v == v and bool(stop.search(v)))
    if not hits.any():
        return texts, False
    at = texts.index.get_loc(hits.idxmax())
    skipped["stop_row"] += 1
    skipped["after_stop"] += int((~empty.iloc[at + 1 :]).sum())
    return texts.iloc[:at], True


def _read_error(exc: Exception, path: Path, shown: str, encoding: str) -> SourceError:
    if isinstance(exc, UnicodeDecodeError):
        line = _bad_line(path, encoding)
        where = f", line {line}" if line else ""
        return SourceError(
            f"{shown}{where}: bytes that are not valid {encoding} text ({exc.reason}).",
            hint="Declare the right `encoding:` in project.yaml, or fix the damaged line.",
        )
    return SourceError(
        f"{shown}: not a well-formed delimited file ({str(exc).strip()}).",
        hint="Check the delimiter and quoting.",
    )


def _bad_line(path: Path, encoding: str) -> int | None:
    """The first line that does not decode (found only on the error path)."""
    if codecs.lookup(encoding).name.startswith("utf-16"):
        return None
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError:
                return number
    return None
