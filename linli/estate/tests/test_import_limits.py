"""Imports that cannot stall the site: a small file whose few cells sit millions of rows
apart is refused within seconds (the reader walked every blank row between them), and a
misspelled column is refused by name with the nearest known column."""

from __future__ import annotations

import io
import re
import time
import zipfile

import openpyxl
import pytest

from linli import testing as t
from linli.core import xlsx
from linli.estate.imports import ImportRefused
from linli.estate.models import Unit
from linli.estate.tests.test_import import UNIT_HEADER, run, workbook
from linli.staff.models import Role


@pytest.fixture
def manager(estate):
    return t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]])


def sparse_workbook(rows: int = 16_000_000, spread: int = 3000) -> bytes:
    """A header, then one cell every ``rows // spread`` rows up to row ``rows``: about
    150 KB on disk, ``rows`` rows to a reader."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "房屋"
    sheet.append(UNIT_HEADER)
    sheet["A2"] = "x"
    buffer = io.BytesIO()
    book.save(buffer)
    step = rows // spread
    far_rows = "".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>x</t></is></c></row>'
        for n in range(step, rows + 1, step))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                text = re.sub(r"<dimension[^>]*/>", "", text)
                text = re.sub(r'(<row r="2".*?</row>)', lambda m: m.group(1) + far_rows, text,
                              flags=re.S)
                data = text.encode()
            dst.writestr(info, data)
    return out.getvalue()


def test_sixteen_million_blank_rows_are_refused_within_seconds(estate, manager):
    data = sparse_workbook()
    assert len(data) < 200_000
    started = time.monotonic()
    with pytest.raises(ImportRefused, match="20000"):
        run(manager, estate["a1"], data)
    assert time.monotonic() - started < 5
    assert not Unit.objects.filter(room_no="x").exists()


def test_slow_reading_is_cut_off(estate, manager, settings):
    settings.LINLI_IMPORT_MAX_SECONDS = 0
    settings.LINLI_IMPORT_MAX_ROWS = 1_000_000
    with pytest.raises(ImportRefused) as refused:
        run(manager, estate["a1"], sparse_workbook(rows=200_000, spread=100))
    assert "too long" in refused.value.message or "耗时" in refused.value.message


def test_zip_bomb_refused_before_parsing(estate, manager, settings, monkeypatch):
    settings.LINLI_IMPORT_MAX_BYTES = 10_000  # unpacked limit: 200 KB
    parsed = []
    monkeypatch.setattr(xlsx.openpyxl, "load_workbook", lambda *a, **k: parsed.append(1))
    with pytest.raises(ImportRefused, match="unpacked|解压"):
        run(manager, estate["a1"], _bomb())
    assert not parsed


def _bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b" " * 1_000_000)
    return out.getvalue()


@pytest.mark.parametrize("wrong,nearest", [("面积", "建筑面积"), ("房间号", "房号")])
def test_misspelled_column_is_refused_with_the_nearest_one(estate, manager, wrong, nearest):
    header = [wrong if h == nearest else h for h in UNIT_HEADER]
    if nearest == "建筑面积":
        header = [h for h in UNIT_HEADER if h != "建筑面积"] + [wrong]
    row = dict(zip(UNIT_HEADER, ["1栋", "1单元", 18, "1801", 98.5, None, None, None, None],
                   strict=True))
    data = workbook({"房屋": [header, [row.get(h, 98.5) for h in header]]})
    result = run(manager, estate["a1"], data)
    assert not result.ok
    messages = [e.message for e in result.errors if e.column == wrong]
    assert messages and nearest in messages[0] and wrong in messages[0]
    assert not Unit.objects.filter(room_no="1801", community=estate["a1"]).exists()
