"""Fake but well-formed Chinese personal data for the demo: names, mobiles, ID numbers.

Everything comes from one seeded ``random.Random``, so a demo database always holds the
same people. Mobile numbers all sit in the ``1xx0013xxxx`` block (like the well-known
test number 13800138000) so nobody mistakes them for real ones; ID numbers carry a
correct GB 11643 check character and a real birth date.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from linli.core.validators import id_number_check_char

# Surnames in rough order of frequency (China, 2020 census), in weight tiers.
_SURNAME_TIERS: tuple[tuple[int, str | tuple[str, ...]], ...] = (
    (60, "王李张刘陈"),
    (22, "杨黄赵吴周"),
    (9, "徐孙马朱胡郭何林高罗郑梁"),
    (
        4,
        "谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金"
        "石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔向汤",
    ),
    (1, ("欧阳", "上官", "司马", "诸葛")),
)
SURNAMES: tuple[str, ...] = tuple(s for _, group in _SURNAME_TIERS for s in group)
SURNAME_WEIGHTS: tuple[int, ...] = tuple(w for w, group in _SURNAME_TIERS for _ in group)

# Given names follow fashions, so they are chosen by the decade a person was born in.
GIVEN_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("old", "M"): (
        "建国", "建华", "国强", "志强", "卫东", "建军", "国庆", "文明", "德明", "永康",
        "振华", "海涛", "金龙", "长江", "福生", "庆丰", "立新", "宝山", "世杰", "树林",
    ),
    ("old", "F"): (
        "秀英", "桂英", "玉兰", "秀兰", "凤英", "淑珍", "丽华", "美华", "桂芳", "淑芬",
        "玉梅", "红梅", "素珍", "月娥", "翠花", "金凤", "爱华", "春兰", "彩霞", "惠珍",
    ),
    ("mid", "M"): (
        "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "鹏", "辉", "晓东",
        "海波", "志伟", "俊杰", "文博", "建平", "剑锋", "鹏飞", "晓峰", "宇", "浩", "凯",
        "健", "旭东", "立伟", "振宇", "家豪",
    ),
    ("mid", "F"): (
        "芳", "娜", "敏", "静", "丽", "艳", "娟", "婷", "雪", "慧", "丽娟", "晓燕", "婷婷",
        "雪梅", "静怡", "佳慧", "倩", "颖", "琳", "洁", "晓静", "丹丹", "海燕", "玉洁",
        "思颖", "雅琴", "晶晶", "美玲", "秋月", "慧敏",
    ),
    ("young", "M"): (
        "子轩", "浩然", "宇轩", "梓睿", "一鸣", "俊熙", "皓轩", "睿泽", "子墨", "沐阳",
        "奕辰", "宇航", "明哲", "博文", "天佑",
    ),
    ("young", "F"): (
        "欣怡", "梓涵", "诗涵", "雨桐", "一诺", "语嫣", "可馨", "若汐", "思琪", "芷若",
        "紫萱", "佳怡", "梦瑶", "雨欣", "安琪",
    ),
}

# County-level region codes (GB/T 2260) of the ID number: mostly local (Hangzhou),
# some from the rest of Zhejiang and from other provinces.
_REGIONS_LOCAL = ("330102", "330105", "330106", "330108", "330109", "330110")
_REGIONS_PROVINCE = ("330203", "330302", "330381", "330402", "330602", "330682", "330702")
_REGIONS_ELSEWHERE = (
    "110105", "310115", "320106", "340104", "360102", "370102", "410105", "420106",
    "430104", "350203", "510107", "610113",
)

# Mobile prefixes of the three carriers; the "0013" after them marks the number as fake.
_MOBILE_PREFIXES = ("138", "139", "137", "135", "150", "158", "186", "177", "189", "133")


@dataclass(frozen=True)
class FakePerson:
    name: str
    sex: str  # "M" or "F"
    born: dt.date
    mobile: str  # "" for children without a phone
    id_number: str


class PeopleFactory:
    """Makes unique, well-formed people from a seeded random source."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._mobiles: set[str] = set()
        self._id_numbers: set[str] = set()

    def person(
        self,
        *,
        born_between: tuple[int, int],
        sex: str | None = None,
        surname: str | None = None,
    ) -> FakePerson:
        """Anyone born before 2010 (16 or older) has a mobile number; children do not."""
        sex = sex or self.rng.choice("MF")
        born = self.birth_date(*born_between)
        name = (surname or self.surname()) + self.given_name(sex, born.year)
        return FakePerson(
            name=name,
            sex=sex,
            born=born,
            mobile=self.mobile() if born.year < 2010 else "",
            id_number=self.id_number(born, sex),
        )

    def surname(self) -> str:
        return self.rng.choices(SURNAMES, weights=SURNAME_WEIGHTS)[0]

    def given_name(self, sex: str, born_year: int) -> str:
        era = "old" if born_year < 1972 else "mid" if born_year < 2002 else "young"
        return self.rng.choice(GIVEN_NAMES[(era, sex)])

    def birth_date(self, first_year: int, last_year: int) -> dt.date:
        start = dt.date(first_year, 1, 1)
        span_days = (dt.date(last_year, 12, 31) - start).days
        return start + dt.timedelta(days=self.rng.randrange(span_days + 1))

    def mobile(self) -> str:
        while True:
            number = f"{self.rng.choice(_MOBILE_PREFIXES)}0013{self.rng.randrange(10_000):04d}"
            if number not in self._mobiles:
                self._mobiles.add(number)
                return number

    def region(self) -> str:
        roll = self.rng.random()
        pool = (
            _REGIONS_LOCAL if roll < 0.55 else _REGIONS_PROVINCE if roll < 0.75
            else _REGIONS_ELSEWHERE
        )
        return self.rng.choice(pool)

    def id_number(self, born: dt.date, sex: str) -> str:
        """18 characters: region, birth date, a sequence whose last digit is odd for men
        and even for women, and the GB 11643 check character."""
        while True:
            sequence = self.rng.randrange(0, 1000, 2) + (1 if sex == "M" else 0)
            first17 = f"{self.region()}{born:%Y%m%d}{sequence:03d}"
            number = first17 + id_number_check_char(first17)
            if number not in self._id_numbers:
                self._id_numbers.add(number)
                return number


# GB 32100-2015 unified social credit code: 31 characters (no I, O, S, V, Z).
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11714-1997 organisation code, which forms characters 9–17 of the credit code.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def credit_code(region: str, org_base: str) -> str:
    """A well-formed credit code for a company (``91`` = enterprise registered with the
    market regulator) from a 6-digit region and an 8-character organisation code base."""
    org_sum = sum(_USCC_CHARS.index(c) * w for c, w in zip(org_base, _ORG_WEIGHTS, strict=True))
    org_check = {10: "X", 11: "0"}.get(11 - org_sum % 11, str(11 - org_sum % 11))
    first17 = f"91{region}{org_base}{org_check}"
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return first17 + _USCC_CHARS[(31 - total % 31) % 31]
