"""Hypothesis strategies for malformed requests: field values (NUL bytes, invalid UTF-8,
huge, negative and exponent numbers, very long strings, wrong types), query strings and
bodies in several encodings, built from the real fields of a page plus junk fields."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote_from_bytes, urlsplit

from hypothesis import strategies as st

NASTY = [
    "", " ", "\x00", "a\x00b", "0", "-1", "-0", "1.5", "-1.5", "0.001", "1e309", "-1e309",
    "1E5", "NaN", "Infinity", "-inf", "0x1F", "1_000", "1,000", "１２３", "٣", "9" * 25,
    "-" + "9" * 25, "2147483648", "9223372036854775808", "-9223372036854775809",
    "2024-02-30", "2024-13", "9999-12-31", "0000-00-00", "2024-01-01T25:61", "true", "null",
    "[]", "{}", "../..", "%00", "%ff", "<x>", "' or 1=1 --", "\u202e", "😀", "\r\n", "\t",
    "on", "off", "__all__", "id", "pk",
]
JUNK_FIELDS = ["id", "pk", "amount", "amount_fen", "unit", "community", "status", "_save",
               "action", "index", "select_across", "_selected_action", "next", "o", "p", "q",
               "e", "all", "_popup", "_to_field", "_changelist_filters", "confirm", "post",
               "csrfmiddlewaretoken", "\x00", "", "a" * 300]
CONTENT_TYPES = [
    "application/x-www-form-urlencoded", "multipart/form-data", "application/json",
    "text/xml", "text/plain", "", "application/x-www-form-urlencoded; charset=gbk",
    "application/x-www-form-urlencoded; charset=no-such-charset",
    "multipart/form-data; boundary=", "application/octet-stream",
]
BOUNDARY = "fuzzfuzzfuzz"

# A value is text or raw bytes (bytes carry invalid UTF-8 into the request).
texts = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=30),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats().map(repr),
    st.decimals(allow_nan=True).map(str),
    st.integers(min_value=1000, max_value=100_000).map(lambda n: "x" * n),
    st.text(max_size=10).map(lambda s: s + "\x00" + s),
)
raw_bytes = st.one_of(
    st.binary(max_size=20),
    st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80abc", b"\x00"]),
)


@dataclass
class Page:
    """The fields a page offers: form inputs and their values, query parameters of its
    links (list filters, ordering, pagination), and whether it takes a file."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    query: dict[str, list[str]] = field(default_factory=dict)
    has_file: bool = False

    def add(self, target: dict[str, list[str]], name: str | None, value: str | None) -> None:
        if name:
            values = target.setdefault(name, [])
            if value is not None and value not in values and len(values) < 12:
                values.append(value)


class _PageParser(HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__()
        self.page, self.select = page, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input":
            if a.get("type") == "file":
                self.page.has_file = True
            self.page.add(self.page.fields, a.get("name"), a.get("value") or "")
        elif tag in ("select", "textarea"):
            self.page.add(self.page.fields, a.get("name"), None)
            self.select = a.get("name") if tag == "select" else None
        elif tag == "option" and self.select:
            self.page.add(self.page.fields, self.select, a.get("value") or "")
        elif tag == "a" and (a.get("href") or "").startswith("?"):
            for key, value in parse_qsl(urlsplit(a["href"]).query, keep_blank_values=True):
                self.page.add(self.page.query, key, value)

    def handle_endtag(self, tag):
        if tag == "select":
            self.select = None


def page_of(html: str) -> Page:
    page = Page()
    _PageParser(page).feed(html)
    return page


def _value(known: list[str]):
    choices = [texts, raw_bytes, st.just("")]
    if known:
        choices = [st.sampled_from(known)] * 3 + choices
    return st.one_of(*choices)


@st.composite
def pairs(draw, known: dict[str, list[str]]) -> list[tuple[str, str | bytes]]:
    """Field/value pairs: some real fields (some missing), some repeated, some junk."""
    names = sorted(known)
    chosen = draw(st.lists(st.sampled_from(names), max_size=12)) if names else []
    if draw(st.booleans()):  # every real field, each with a fair value or a bad one
        chosen = names + chosen
    chosen += draw(st.lists(st.one_of(st.sampled_from(JUNK_FIELDS), st.text(max_size=8)),
                            max_size=3))
    return [(name, draw(_value(known.get(name, [])))) for name in chosen]


def _enc(value: str | bytes) -> str:
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    return quote_from_bytes(raw, safe="")


def urlencoded(items) -> str:
    return "&".join(f"{_enc(k)}={_enc(v)}" for k, v in items)


def multipart(items, *, file: bytes | None) -> bytes:
    out = []
    for name, value in items:
        raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
        out += [f"--{BOUNDARY}".encode(),
                b'Content-Disposition: form-data; name="' + _enc(name).encode() + b'"', b"", raw]
    if file is not None:
        out += [f"--{BOUNDARY}".encode(),
                b'Content-Disposition: form-data; name="file"; filename="x.xlsx"',
                b"Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                b"", file]
    out.append(f"--{BOUNDARY}--".encode())
    return b"\r\n".join(out) + b"\r\n"


def _jsonable(items) -> dict:
    return {k: (v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in items}


@st.composite
def body(draw, page: Page) -> tuple[bytes, str]:
    """A POST body and its content type."""
    items = draw(pairs(page.fields))
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type.startswith("multipart/form-data"):
        file = draw(st.one_of(st.none(), st.binary(max_size=200),
                              st.just(b"PK\x03\x04" + b"\x00" * 100))) if page.has_file else None
        ct = content_type if content_type.endswith("=") else f"{content_type}; boundary={BOUNDARY}"
        if draw(st.integers(0, 9)) == 0:
            ct = content_type  # no boundary at all
        return multipart(items, file=file), ct
    if content_type == "application/json":
        data = draw(st.one_of(
            st.just(json.dumps(_jsonable(items))),
            st.just(json.dumps([1, "a", None])),
            st.sampled_from(["{", "null", "1e999", '{"a": NaN}']),
        ))
        return data.encode(), content_type
    if content_type == "text/xml":
        inner = "".join(f"<{_enc(k) or 'x'}>{_enc(v)}</{_enc(k) or 'x'}>" for k, v in items)
        return draw(st.sampled_from([f"<xml>{inner}</xml>", "<xml><a>\x00</a>", "<!DOCTYPE x ["
                                     "<!ENTITY a 'aaaa'>]><x>&a;&a;</x>"])).encode(), content_type
    if draw(st.integers(0, 4)) == 0:
        return draw(raw_bytes), content_type
    return urlencoded(items).encode(), content_type


@st.composite
def query(draw, page: Page) -> str:
    known = {**page.query, **{k: v for k, v in page.fields.items() if k not in page.query}}
    return urlencoded(draw(pairs(known)))
