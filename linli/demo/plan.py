"""What the demo estate holds: the property company, its communities (buildings, room
types, parking) and its staff. ``linli.demo.data`` turns this plan into rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from linli.estate.models import Unit
from linli.staff.models import Role

DEMO_PASSWORD = "linli-demo-2026"
COMPANY_NAME = "安居物业服务有限公司"
SEED = 2026
# Tenancies and resales are dated relative to this day, so the data never changes.
AS_OF = dt.date(2026, 1, 1)

RESIDENTIAL, COMMERCIAL = Unit.Kind.RESIDENTIAL, Unit.Kind.COMMERCIAL


@dataclass(frozen=True)
class RoomType:
    building_area: Decimal
    usable_area: Decimal
    kind: str = RESIDENTIAL


def _room(building_m2: str, usable_m2: str, kind: str = RESIDENTIAL) -> RoomType:
    return RoomType(Decimal(building_m2), Decimal(usable_m2), kind)


TWO_BED = _room("89.56", "71.65")  # 两室两厅
THREE_BED = _room("126.30", "100.28")  # 三室两厅
FOUR_BED = _room("143.88", "116.25")  # 四室两厅
SHOP_SMALL = _room("68.40", "56.09", COMMERCIAL)  # 底商
SHOP_LARGE = _room("102.75", "84.26", COMMERCIAL)
OLD_SMALL = _room("76.80", "61.90")
OLD_LARGE = _room("92.15", "74.18")


@dataclass(frozen=True)
class BuildingPlan:
    name: str
    floors: int
    entrances: int
    rooms: tuple[RoomType, ...]  # one per room position on a floor: 01, 02, …
    delivered_on: dt.date
    # Chances of occupied / vacant / decorating for a sold home.
    status_weights: tuple[float, float, float] = (0.84, 0.10, 0.06)
    shops: tuple[RoomType, ...] = ()  # ground floor: shops instead of homes
    unsold: int = 0  # homes on the top floors the developer has not sold yet


@dataclass(frozen=True)
class ParkingLot:
    code: str  # format with the space number, e.g. "B1-{:03d}"
    count: int
    location: str
    area: Decimal
    owned_share: float  # sold with a home
    rented_share: float  # let to a household; the rest are public (visitors, short stays)
    first: int = 1  # number of the lot's first space


@dataclass(frozen=True)
class CommunityPlan:
    name: str
    code: str
    city: str
    district: str
    address: str
    phone: str
    buildings: tuple[BuildingPlan, ...]
    parking: tuple[ParkingLot, ...]


_PHASE_1, _PHASE_2 = dt.date(2019, 6, 28), dt.date(2021, 12, 30)
_NEW = (0.70, 0.14, 0.16)  # phase 2 is newer: more homes empty or being fitted out

COMMUNITIES = (
    CommunityPlan(
        name="翠湖花园", code="cuihu", city="杭州市", district="西湖区",
        address="杭州市西湖区翠湖路88号", phone="0571-8697 2300",
        buildings=(
            BuildingPlan("1栋", 18, 2, (TWO_BED, THREE_BED), _PHASE_1,
                         shops=(SHOP_SMALL, SHOP_LARGE)),
            BuildingPlan("2栋", 18, 2, (TWO_BED, THREE_BED), _PHASE_1,
                         shops=(SHOP_LARGE, SHOP_SMALL)),
            BuildingPlan("3栋", 18, 2, (TWO_BED, THREE_BED), _PHASE_1),
            BuildingPlan("4栋", 18, 2, (TWO_BED, THREE_BED), _PHASE_1),
            BuildingPlan("5栋", 18, 2, (THREE_BED, FOUR_BED), _PHASE_2, _NEW),
            BuildingPlan("6栋", 18, 2, (THREE_BED, FOUR_BED), _PHASE_2, _NEW, unsold=4),
        ),
        parking=(
            ParkingLot("B1-{:03d}", 60, "地下车库B1层A区", Decimal("12.50"), 0.55, 0.30),
            ParkingLot("B1-{:03d}", 60, "地下车库B1层B区", Decimal("13.20"), 0.50, 0.35, 61),
            ParkingLot("D-{:02d}", 30, "地面东侧", Decimal("12.00"), 0.0, 0.20),
        ),
    ),
    CommunityPlan(
        name="锦绣苑", code="jinxiu", city="杭州市", district="拱墅区",
        address="杭州市拱墅区锦绣巷12号", phone="0571-8815 6021",
        buildings=(
            BuildingPlan("1幢", 6, 1, (OLD_SMALL, OLD_LARGE), dt.date(2008, 9, 30),
                         (0.88, 0.08, 0.04)),
            BuildingPlan("2幢", 6, 1, (OLD_SMALL, OLD_LARGE), dt.date(2008, 9, 30),
                         (0.88, 0.08, 0.04)),
        ),
        parking=(ParkingLot("P{:02d}", 14, "楼间地面", Decimal("11.50"), 0.0, 0.60),),
    ),
)


@dataclass(frozen=True)
class StaffPlan:
    username: str
    display_name: str
    role: str
    communities: tuple[str, ...]  # community names; a company admin needs none
    mobile: str


STAFF = (
    StaffPlan("admin", "周明辉", Role.COMPANY_ADMIN, (), "13900130001"),
    StaffPlan("manager", "李晓峰", Role.MANAGER, ("翠湖花园",), "13900130002"),
    StaffPlan("manager2", "陈静", Role.MANAGER, ("锦绣苑",), "13900130003"),
    StaffPlan("cashier", "张丽娟", Role.CASHIER, ("翠湖花园",), "13900130004"),
    StaffPlan("finance", "刘芳", Role.FINANCE, ("翠湖花园", "锦绣苑"), "13900130005"),
    StaffPlan("service", "赵婷婷", Role.SERVICE, ("翠湖花园",), "13900130006"),
)
SUPERUSER = "root"
USERNAMES = (SUPERUSER, *(s.username for s in STAFF))

SHOPS = ("便利店", "鲜果超市", "洗衣店", "社区药房", "快递驿站", "面馆", "美发店", "早餐店")
