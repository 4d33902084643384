"""Loading the demo estate planned in ``linli.demo.plan``: one property company with a
large and a small community, their buildings, units, parking and people, and one staff
login per role.

Loading is all-or-nothing (one transaction) and idempotent: the demo company is the
marker, so a second run finds it and creates nothing. A database that already holds
someone else's data is refused, so demo logins with a published password never land in
a real installation.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.demo.billing import load_billing
from linli.demo.people import FakePerson, PeopleFactory, credit_code
from linli.demo.plan import (
    AS_OF,
    COMMUNITIES,
    COMPANY_NAME,
    DEMO_PASSWORD,
    SEED,
    SHOPS,
    STAFF,
    SUPERUSER,
    USERNAMES,
    BuildingPlan,
    CommunityPlan,
    ParkingLot,
)
from linli.estate.models import Building, Community, Company, Occupancy, ParkingSpace, Person, Unit
from linli.staff.models import StaffMember
from linli.staff.scope import communities_for
from linli.staff.services import staff_member_create

__all__ = ["DEMO_PASSWORD", "USERNAMES", "DemoRefused", "DemoSummary", "load_demo"]

RESIDENTIAL, COMMERCIAL = Unit.Kind.RESIDENTIAL, Unit.Kind.COMMERCIAL
OCCUPIED, VACANT, DECORATING = Unit.Status.OCCUPIED, Unit.Status.VACANT, Unit.Status.DECORATING


class DemoRefused(Exception):
    """The database holds data that is not the demo's."""


# --- what load_demo reports ------------------------------------------------------------
@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    name: str
    role: str
    communities: tuple[str, ...]


@dataclass(frozen=True)
class DemoOwner:
    name: str
    mobile: str
    community: str
    units: tuple[str, ...]


@dataclass
class DemoSummary:
    created: bool  # False when the demo was already loaded
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    logins: list[DemoLogin] = field(default_factory=list)
    owners: list[DemoOwner] = field(default_factory=list)


def load_demo(*, stdout=None) -> DemoSummary:
    """Load the demo estate unless it is there already; report what the database holds."""
    started = time.monotonic()
    company = Company.objects.filter(name=COMPANY_NAME).first()
    created = company is None
    if created:
        _refuse_foreign_data()
        with transaction.atomic():
            company = _Loader(stdout).load()
    return DemoSummary(
        created=created,
        seconds=time.monotonic() - started,
        counts=demo_counts(company),
        logins=demo_logins(company),
        owners=demo_owners(company),
    )


def _refuse_foreign_data() -> None:
    if Company.objects.exists() or User.objects.exists():
        raise DemoRefused(
            _(
                "This database already holds data that is not the demo's. The demo only "
                "loads into an empty database: point LINLI_HOME (or DATABASE_URL) at a "
                "new one."
            )
        )


# --- loading ---------------------------------------------------------------------------
@dataclass
class _Household:
    """The occupancies planned for one unit, with Person objects not yet saved."""

    unit: Unit
    rows: list[tuple[Person, str, dt.date, dt.date | None, bool]] = field(default_factory=list)

    def add(self, person: Person, role: str, start: dt.date, end: dt.date | None = None,
            payer: bool = False) -> None:
        self.rows.append((person, role, start, end, payer))


class _Loader:
    def __init__(self, stdout) -> None:
        self.stdout = stdout
        self.rng = random.Random(SEED)
        self.people = PeopleFactory(self.rng)
        # Owners who let a unit, by community: they may buy another one to let.
        self._investors: dict[int, list[Person]] = {}

    def say(self, message: str) -> None:
        if self.stdout is not None:
            self.stdout.write(message)

    def load(self) -> Company:
        company = Company.objects.create(
            name=COMPANY_NAME,
            short_name="安居物业",
            credit_code=credit_code("330106", "MA2B7K3Q"),
            phone="400-826-0571",
        )
        communities = {}
        for plan in COMMUNITIES:
            communities[plan.name] = self.load_community(company, plan)
        self.load_staff(company, communities)
        load_billing(communities, say=self.say)
        audit_record(
            actor=None,
            action=AuditEvent.Action.IMPORT,
            obj=company,
            summary="载入演示数据（linli demo）",
        )
        return company

    def load_community(self, company: Company, plan: CommunityPlan) -> Community:
        community = Community.objects.create(
            company=company, name=plan.name, code=plan.code, city=plan.city,
            district=plan.district, address=plan.address, phone=plan.phone,
        )
        buildings = Building.objects.bulk_create(
            Building(community=community, name=b.name, floors=b.floors, sort_order=i)
            for i, b in enumerate(plan.buildings, start=1)
        )
        units: list[Unit] = []
        for building, bplan in zip(buildings, plan.buildings, strict=True):
            units += self.plan_units(community, building, bplan)
        _bulk(Unit, units)
        households = [self.plan_household(unit) for unit in units if unit.delivered_on]
        persons = list({id(p): p for h in households for p, *_rest in h.rows}.values())
        _bulk(Person, persons)
        _bulk(Occupancy, [
            Occupancy(unit=h.unit, person=p, role=role, start_date=start, end_date=end,
                      is_payer=payer)
            for h in households for p, role, start, end, payer in h.rows
        ])
        _bulk(ParkingSpace, self.plan_parking(community, plan.parking, units))
        self.say(
            _("%(community)s: %(units)d units, %(people)d people")
            % {"community": community.name, "units": len(units), "people": len(persons)}
        )
        return community

    def plan_units(self, community, building, plan: BuildingPlan) -> list[Unit]:
        units = []
        positions = [
            (entrance, floor, room)
            for entrance in range(1, plan.entrances + 1)
            for floor in range(1, plan.floors + 1)
            for room in range(1, len(plan.rooms) + 1)
        ]
        top_floor_first = sorted(positions, key=lambda p: (-p[1], p[0], p[2]))
        unsold = set(top_floor_first[: plan.unsold])
        for entrance, floor, room in positions:
            kind_type = plan.shops[room - 1] if plan.shops and floor == 1 else plan.rooms[room - 1]
            sold = (entrance, floor, room) not in unsold
            units.append(Unit(
                community=community,
                building=building,
                entrance=f"{entrance}单元",
                floor=floor,
                room_no=f"{floor}{room:02d}",
                building_area=kind_type.building_area,
                usable_area=kind_type.usable_area,
                kind=kind_type.kind,
                status=self.status(plan, kind_type.kind) if sold else VACANT,
                delivered_on=plan.delivered_on if sold else None,
            ))
        return units

    def status(self, plan: BuildingPlan, kind: str) -> str:
        if kind == COMMERCIAL:
            return OCCUPIED if self.rng.random() < 0.85 else VACANT
        return self.rng.choices((OCCUPIED, VACANT, DECORATING), weights=plan.status_weights)[0]

    # --- people --------------------------------------------------------------------------
    def person(self, unit: Unit, fake: FakePerson, note: str = "") -> Person:
        person = Person(
            community=unit.community, name=fake.name, mobile=fake.mobile,
            id_number=fake.id_number, note=note,
        )
        person.normalise()
        return person

    def new_person(self, unit: Unit, born: tuple[int, int], **kwargs) -> Person:
        return self.person(unit, self.people.person(born_between=born, **kwargs))

    def plan_household(self, unit: Unit) -> _Household:
        """Owners (with resales and co-owners), then whoever lives there and who pays.
        Exactly one current occupancy of a sold unit pays."""
        rng, house = self.rng, _Household(unit)
        moved_in = unit.delivered_on + dt.timedelta(days=rng.randrange(0, 120))
        let = unit.kind == COMMERCIAL or (unit.status == OCCUPIED and rng.random() < 0.18)
        owner = self.investor(unit) if let and rng.random() < 0.35 else None
        if owner is None:
            owner, moved_in = self.plan_owners(house, moved_in)
        if let:
            self._investors.setdefault(unit.community_id, []).append(owner)
        if unit.kind == COMMERCIAL:
            return self.plan_shop(house, owner, moved_in)
        if let:
            return self.plan_tenancy(house, owner, moved_in)
        house.add(owner, Occupancy.Role.OWNER, moved_in, payer=True)
        if unit.status == OCCUPIED:
            self.plan_family(house, owner, moved_in)
        return house

    def investor(self, unit: Unit) -> Person | None:
        """An owner who already lets a unit here and holds fewer than three."""
        owned = self._investors.get(unit.community_id, [])
        pool = list({id(p): p for p in owned if owned.count(p) < 3}.values())  # in order
        return self.rng.choice(pool) if pool else None

    def plan_owners(self, house: _Household, moved_in: dt.date) -> tuple[Person, dt.date]:
        """The current owner, after a resale for some homes; a spouse as co-owner for some.
        Returns the owner and the day their ownership began."""
        rng, unit = self.rng, house.unit
        resale_chance = 0.25 if unit.delivered_on.year < 2015 else 0.06
        if rng.random() < resale_chance:
            sold_on = _random_day(rng, max(moved_in.year + 1, 2012), 2025)
            first = self.new_person(unit, (1950, 1975))
            house.add(first, Occupancy.Role.OWNER, moved_in, sold_on - dt.timedelta(days=1), True)
            moved_in = sold_on
        owner = self.new_person(unit, (1955, 1995))
        if unit.kind == RESIDENTIAL and rng.random() < 0.30:
            house.add(self.new_person(unit, (1958, 1995)), Occupancy.Role.CO_OWNER, moved_in)
        return owner, moved_in

    def plan_family(self, house: _Household, owner: Person, moved_in: dt.date) -> None:
        rng, unit, surname = self.rng, house.unit, _surname_of(owner.name)
        if rng.random() < 0.45:
            child = self.people.person(born_between=(2006, 2020), surname=surname)
            house.add(self.person(unit, child), Occupancy.Role.FAMILY, max(moved_in, child.born))
        if rng.random() < 0.15:
            parent = self.new_person(unit, (1942, 1958), surname=surname)
            since = moved_in + dt.timedelta(days=rng.randrange(0, 700))
            house.add(parent, Occupancy.Role.FAMILY, min(since, AS_OF))

    def plan_tenancy(self, house: _Household, owner: Person, moved_in: dt.date) -> _Household:
        """A let home: the tenant pays in some leases, the owner in the others; some
        homes had an earlier tenant whose lease has ended."""
        rng, unit = self.rng, house.unit
        tenant_pays = rng.random() < 0.4
        house.add(owner, Occupancy.Role.OWNER, moved_in, payer=not tenant_pays)
        start = _random_day(rng, 2024, 2025)
        if rng.random() < 0.3 and start.year - moved_in.year >= 2:
            earlier_start = dt.date(start.year - 2, start.month, 1)
            house.add(self.new_person(unit, (1985, 2000)), Occupancy.Role.TENANT,
                      earlier_start, start - dt.timedelta(days=1), tenant_pays)
        house.add(self.new_person(unit, (1980, 2001)), Occupancy.Role.TENANT, start,
                  payer=tenant_pays)
        if rng.random() < 0.25:
            house.add(self.new_person(unit, (1980, 2001)), Occupancy.Role.FAMILY, start)
        return house

    def plan_shop(self, house: _Household, owner: Person, moved_in: dt.date) -> _Household:
        """A shop in use is let to the person running it, who pays; an empty one, the owner."""
        in_use = house.unit.status == OCCUPIED
        house.add(owner, Occupancy.Role.OWNER, moved_in, payer=not in_use)
        if in_use:
            shop = self.rng.choice(SHOPS)
            operator = self.new_person(house.unit, (1970, 1995))
            operator.note = f"{shop}经营者"  # data, in the language of the demo estate
            house.add(operator, Occupancy.Role.TENANT, _random_day(self.rng, 2022, 2025),
                      payer=True)
        return house

    # --- parking ---------------------------------------------------------------------------
    def plan_parking(self, community, lots: tuple[ParkingLot, ...], units) -> list[ParkingSpace]:
        """Sold spaces go to homes (one each), let spaces to lived-in homes (a household
        may let a second one); the rest are public. Kinds are mixed along each row."""
        homes = [u for u in units if u.kind == RESIDENTIAL and u.delivered_on]
        lived_in = [u for u in homes if u.status == OCCUPIED]
        buyers = self.rng.sample(homes, k=sum(round(lot.count * lot.owned_share) for lot in lots))
        spaces = []
        for lot in lots:
            owned = round(lot.count * lot.owned_share)
            rented = round(lot.count * lot.rented_share)
            kinds = (
                [ParkingSpace.Kind.OWNED] * owned + [ParkingSpace.Kind.RENTED] * rented
                + [ParkingSpace.Kind.PUBLIC] * (lot.count - owned - rented)
            )
            self.rng.shuffle(kinds)
            for number, kind in enumerate(kinds, start=lot.first):
                unit = (
                    buyers.pop() if kind == ParkingSpace.Kind.OWNED
                    else self.rng.choice(lived_in) if kind == ParkingSpace.Kind.RENTED
                    else None
                )
                spaces.append(ParkingSpace(
                    community=community, code=lot.code.format(number), location=lot.location,
                    kind=kind, unit=unit, area=lot.area,
                ))
        return spaces

    # --- staff -------------------------------------------------------------------------------
    def load_staff(self, company: Company, communities: dict[str, Community]) -> None:
        for plan in STAFF:
            staff_member_create(
                acting_user=None,
                company=company,
                username=plan.username,
                password=DEMO_PASSWORD,
                display_name=plan.display_name,
                role=plan.role,
                communities=[communities[name] for name in plan.communities],
                mobile=plan.mobile,
            )
        User.objects.create_superuser(username=SUPERUSER, email="", password=DEMO_PASSWORD)


def _bulk(model, objs: list) -> list:
    """bulk_create that must give every row its id (SQLite ≥ 3.35 and PostgreSQL do)."""
    created = model.objects.bulk_create(objs, batch_size=500)
    assert all(o.pk for o in created), "the database did not return ids from bulk_create"
    return created


def _random_day(rng: random.Random, first_year: int, last_year: int) -> dt.date:
    start = dt.date(first_year, 1, 1)
    end = min(dt.date(last_year, 12, 31), AS_OF - dt.timedelta(days=1))
    return start + dt.timedelta(days=rng.randrange((end - start).days + 1))


def _surname_of(name: str) -> str:
    return name[:2] if name[:2] in {"欧阳", "上官", "司马", "诸葛"} else name[:1]


# --- reading back what is there ------------------------------------------------------------
def demo_counts(company: Company) -> dict[str, int]:
    units = Unit.objects.filter(community__company=company)
    by_status = dict(units.values_list("status").annotate(n=Count("id")).order_by())
    parking = ParkingSpace.objects.filter(community__company=company)
    people = Person.objects.filter(community__company=company)
    return {
        "communities": company.communities.count(),
        "buildings": Building.objects.filter(community__company=company).count(),
        "units": units.count(),
        "commercial_units": units.filter(kind=COMMERCIAL).count(),
        "occupied": by_status.get(OCCUPIED, 0),
        "vacant": by_status.get(VACANT, 0),
        "decorating": by_status.get(DECORATING, 0),
        "parking_spaces": parking.count(),
        "parking_bound": parking.filter(unit__isnull=False).count(),
        "people": people.count(),
        "occupancies": Occupancy.objects.filter(unit__community__company=company).count(),
        "staff": StaffMember.objects.filter(company=company).count(),
    }


def demo_logins(company: Company) -> list[DemoLogin]:
    """Every demo login with what it can see (its scope, as the console computes it)."""
    users = {u.username: u for u in User.objects.filter(username__in=USERNAMES)}
    logins = []
    for username in USERNAMES:
        user = users.get(username)
        if user is None:
            continue
        member = StaffMember.objects.filter(user=user, company=company).first()
        if user.is_superuser:
            name, role = "", _("Platform administrator")
        elif member is not None:
            name, role = member.display_name, member.get_role_display()
        else:
            continue
        scope = tuple(communities_for(user).order_by("id").values_list("name", flat=True))
        logins.append(DemoLogin(username, DEMO_PASSWORD, name, str(role), scope))
    return logins


def demo_owners(company: Company, per_community: int = 2) -> list[DemoOwner]:
    """A few current owners to try the owner side with: in each community the first
    owners living in their own home, and the owner holding the most units."""
    current = (
        Occupancy.objects.filter(
            unit__community__company=company, role=Occupancy.Role.OWNER, end_date__isnull=True,
        )
        .select_related("person", "unit__building", "unit__community")
        .order_by("unit__community_id", "unit__building__sort_order", "unit__entrance",
                  "unit__floor", "unit__room_no")
    )
    by_person: dict[int, list[Occupancy]] = {}
    for occupancy in current:
        by_person.setdefault(occupancy.person_id, []).append(occupancy)
    chosen: list[int] = []
    for community_id in dict.fromkeys(o.unit.community_id for o in current):
        mine = {p: occ for p, occ in by_person.items() if occ[0].unit.community_id == community_id}
        residents = [
            p for p, occ in mine.items()
            if occ[0].is_payer and occ[0].unit.kind == RESIDENTIAL
            and occ[0].unit.status == OCCUPIED
        ]
        chosen += residents[:per_community]
        most = max(mine, key=lambda p: len(mine[p]))
        if len(mine[most]) > 1 and most not in chosen:
            chosen.append(most)
    return [
        DemoOwner(
            name=by_person[p][0].person.name,
            mobile=by_person[p][0].person.mobile,
            community=by_person[p][0].unit.community.name,
            units=tuple(o.unit.label for o in by_person[p]),
        )
        for p in chosen
    ]
