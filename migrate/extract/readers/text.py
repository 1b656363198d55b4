"""CSV / TSV / TXT exports: encoding and delimiter detected (or declared), read in chunks by
pandas' C parser with every value kept as text (no NA guessing), so memory stays flat."""

from __future__ import annotations

import codecs
import csv
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import charset_normalizer
import pandas as pd

from migrate.errors import ConfigError, SourceError
from migrate.extract.readers import column_letter
from migrate.project import SourceSpec

SAMPLE_BYTES = 1 << 20
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
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
_DELIMITERS = ",\t;|"
_NAMED_DELIMITERS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def detect_encoding(path: Path, shown: str, declared: str | None) -> str:
    """The declared encoding (checked), a BOM's, UTF-8 if the sample decodes, else the detector's guess."""
    if declared:
        try:
            return codecs.lookup(declared).name
        except LookupError:
            raise ConfigError(
                f"{shown}: unknown encoding {declared!r}.", hint="Use e.g. gb18030, utf-8, utf-16, cp1252."
            ) from None
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if not sample:
        raise SourceError(f"{shown} is empty (0 bytes).", hint="Export the data again.")
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3 and len(sample) == SAMPLE_BYTES:
            return "utf-8"  # the sample ends inside a character
    best = charset_normalizer.from_bytes(sample).best()
    if best is None:
        raise SourceError(
            f"{shown}: the text encoding cannot be recognised.",
            hint="Declare it in project.yaml, e.g. `encoding: gb18030`.",
        )
    name = codecs.lookup(best.encoding).name
    if name in _CJK_GUESSES and _decodes(sample, "gb18030"):
        return "gb18030"
    return _SUPERSETS.get(name, name)


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
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        counts = Counter(
            {d: min((line.count(d) for line in lines if line.strip()), default=0) for d in _DELIMITERS}
        )
        best, n = counts.most_common(1)[0] if counts else (",", 0)
        return best if n else ","


def read_text(
    path: Path, shown: str, spec: SourceSpec, chunk_size: int, skipped: Counter
) -> tuple[list[str], Iterator[list[tuple]], str, str]:
    """(header, chunks of (record number, *texts), encoding, delimiter); header record = header_row."""
    encoding = detect_encoding(path, shown, spec.encoding)
    delimiter = detect_delimiter(path, encoding, spec.delimiter)
    first = spec.header_row or 1
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
        top = pd.read_csv(path, skiprows=first - 1, nrows=spec.header_rows, **options)
        if len(top) < spec.header_rows:
            return [], iter(()), encoding, delimiter
        header = _header(top)
        # one spare column: a record with one field too many fills it and is reported below;
        # more than that and the parser itself refuses the line
        reader = pd.read_csv(
            path,
            skiprows=first - 1 + spec.header_rows,
            names=range(len(header) + 1),
            index_col=False,
            chunksize=chunk_size,
            **options,
        )
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise _read_error(exc, path, shown, encoding) from None
    except pd.errors.EmptyDataError:
        return [], iter(()), encoding, delimiter
    rows = _chunks(reader, header, first + spec.header_rows, spec, skipped, shown, path, encoding)
    return header, rows, encoding, delimiter


def _header(top: pd.DataFrame) -> list[str]:
    from migrate.extract.layout import _flatten

    top = top.astype(object).where(top.notna(), None)
    header = _flatten([list(row) for row in top.itertuples(index=False, name=None)])
    # a header cell left empty above data still names a column (by its letter), as in workbooks
    return header + [f"column_{column_letter(i).lower()}" for i in range(len(header), top.shape[1])]


def _chunks(reader, header, first_data, spec, skipped, shown, path, encoding) -> Iterator[list[tuple]]:
    number = first_data
    width = len(header)
    stop = re.compile(spec.stop_at) if spec.stop_at else None
    stopped = False
    try:
        for frame in reader:
            extra = frame.iloc[:, width].notna() & frame.iloc[:, width].ne("")
            if extra.any():
                line = number + int(extra.to_numpy().argmax())
                raise SourceError(
                    f"{shown}, record {line}: more fields than the header's {width}.",
                    hint="Check the delimiter (declare `delimiter:`) or quote the extra fields.",
                )
            frame = frame.iloc[:, :width]
            texts = frame.astype(object).where(frame.notna() & frame.ne(""), None)
            texts.insert(0, "_row", range(number, number + len(texts)))
            number += len(texts)
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
