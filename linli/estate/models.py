"""The estate (DESIGN §2): Company → Community → Building → Unit; parking; people."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from linli.core.crypto import blind_index, mobile_index
from linli.core.fields import EncryptedMobileField, EncryptedTextField
from linli.core.validators import (
    mask_id_number,
    mask_mobile,
    normalise_id_number,
    normalise_mobile,
    validate_id_number,
    validate_mobile,
)

AREA = {"max_digits": 10, "decimal_places": 2}


class Company(models.Model):
    """A property company (物业公司): the tenant that owns everything below it."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    short_name = models.CharField(_("short name"), max_length=30, blank=True)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    phone = models.CharField(_("service phone"), max_length=30, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("property company")
        verbose_name_plural = _("property companies")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.short_name or self.name


class Community(models.Model):
    """A residential community or project (小区 / 项目)."""

    company = models.ForeignKey(
        Company, verbose_name=_("company"), on_delete=models.PROTECT, related_name="communities"
    )
    name = models.CharField(_("name"), max_length=100)
    code = models.SlugField(_("code"), max_length=30, help_text=_("Short code used in numbers."))
    city = models.CharField(_("city"), max_length=30, blank=True)
    district = models.CharField(_("district"), max_length=30, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    phone = models.CharField(_("office phone"), max_length=30, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("community")
        verbose_name_plural = _("communities")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="community_name_unique"),
            models.UniqueConstraint(fields=["company", "code"], name="community_code_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Building(models.Model):
    community = models.ForeignKey(
        Community, verbose_name=_("community"), on_delete=models.PROTECT, related_name="buildings"
    )
    name = models.CharField(_("building"), max_length=30, help_text=_("For example 3栋."))
    floors = models.PositiveSmallIntegerField(_("floors above ground"), null=True, blank=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        ordering = ["community_id", "sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["community", "name"], name="building_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.community.name} {self.name}"


class Unit(models.Model):
    """A home or shop (房屋). ``community`` repeats the building's for fast scoped queries."""

    class Kind(models.TextChoices):
        RESIDENTIAL = "residential", _("Residential")
        COMMERCIAL = "commercial", _("Commercial")
        GARAGE = "garage", _("Garage")

    class Status(models.TextChoices):
        OCCUPIED = "occupied", _("Occupied")
        VACANT = "vacant", _("Vacant")
        DECORATING = "decorating", _("Decorating")

    community = models.ForeignKey(
        Community, verbose_name=_("community"), on_delete=models.PROTECT, related_name="units"
    )
    building = models.ForeignKey(
        Building, verbose_name=_("building"), on_delete=models.PROTECT, related_name="units"
    )
    entrance = models.CharField(_("entrance (单元)"), max_length=20, blank=True)
    floor = models.SmallIntegerField(_("floor"))
    room_no = models.CharField(_("room"), max_length=20)
    building_area = models.DecimalField(
        _("building area (m²)"), **AREA, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    usable_area = models.DecimalField(
        _("usable area (m²)"), **AREA, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.RESIDENTIAL)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.VACANT
    )
    delivered_on = models.DateField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        ordering = ["community_id", "building_id", "entrance", "floor", "room_no"]
        constraints = [
            models.UniqueConstraint(
                fields=["building", "entrance", "room_no"], name="unit_room_unique"
            ),
            models.CheckConstraint(
                condition=Q(building_area__isnull=True) | Q(building_area__gt=0),
                name="unit_building_area_positive",
            ),
            models.CheckConstraint(
                condition=Q(usable_area__isnull=True) | Q(usable_area__gt=0),
                name="unit_usable_area_positive",
            ),
        ]
        permissions = [("import_estate", _("Can import estate data from Excel"))]

    def __str__(self) -> str:
        return f"{self.building.name}{self.entrance}{self.room_no}"

    @property
    def label(self) -> str:
        """Full address within the community, e.g. 3栋2单元1801."""
        return str(self)

    def clean(self) -> None:
        if self.building_id and self.community_id and self.building.community_id != self.community_id:
            raise ValidationError({"building": _("The building is in another community.")})
        if self.usable_area and self.building_area and self.usable_area > self.building_area:
            raise ValidationError(
                {"usable_area": _("Usable area cannot be larger than building area.")}
            )


class ParkingSpace(models.Model):
    class Kind(models.TextChoices):
        OWNED = "owned", _("Owned")
        RENTED = "rented", _("Rented")
        PUBLIC = "public", _("Public")

    community = models.ForeignKey(
        Community, verbose_name=_("community"), on_delete=models.PROTECT, related_name="parking"
    )
    code = models.CharField(_("space number"), max_length=30)
    location = models.CharField(_("location"), max_length=50, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.RENTED)
    unit = models.ForeignKey(
        Unit,
        verbose_name=_("unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="parking_spaces",
        help_text=_("The home this space is let or sold to, if any."),
    )
    area = models.DecimalField(_("area (m²)"), **AREA, null=True, blank=True)

    class Meta:
        verbose_name = _("parking space")
        verbose_name_plural = _("parking spaces")
        ordering = ["community_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["community", "code"], name="parking_code_unique"),
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        if self.unit_id and self.community_id and self.unit.community_id != self.community_id:
            raise ValidationError({"unit": _("The unit is in another community.")})


class Person(models.Model):
    """An owner, tenant or family member (业主 / 住户) registered with one community."""

    community = models.ForeignKey(
        Community, verbose_name=_("community"), on_delete=models.PROTECT, related_name="people"
    )
    name = models.CharField(_("name"), max_length=50)
    # Encrypted at rest; found through the keyed blind index (``mobile_index``), and by
    # its last four digits (``mobile_tail``, shown in the masked number anyway).
    mobile = EncryptedMobileField(_("mobile"), blank=True, validators=[validate_mobile])
    mobile_index = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    mobile_tail = models.CharField(max_length=4, blank=True, editable=False, db_index=True)
    id_number = EncryptedTextField(
        _("resident ID number"), blank=True, validators=[validate_id_number]
    )
    id_number_index = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["community_id", "id"]
        permissions = [("view_person_mobile", _("Can see full mobile numbers"))]
        constraints = [
            models.UniqueConstraint(
                fields=["community", "id_number_index"],
                condition=~Q(id_number_index=""),
                name="person_id_number_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # The blind indexes always follow the encrypted values (bulk_create callers call
        # ``normalise`` themselves).
        self.normalise()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            extra = {"mobile": ("mobile_index", "mobile_tail"), "id_number": ("id_number_index",)}
            kwargs["update_fields"] = {*update_fields, *(f for name in update_fields
                                                         for f in extra.get(name, ()))}
        super().save(*args, **kwargs)

    @property
    def mobile_masked(self) -> str:
        return mask_mobile(self.mobile) if self.mobile else ""

    @property
    def id_number_masked(self) -> str:
        return mask_id_number(self.id_number) if self.id_number else ""

    def normalise(self) -> None:
        """Canonical forms and the blind index; call before validating or saving."""
        self.mobile = normalise_mobile(self.mobile)
        self.mobile_index = mobile_index(self.mobile)
        self.mobile_tail = self.mobile[-4:]
        self.id_number = normalise_id_number(self.id_number)
        self.id_number_index = id_number_index(self.id_number)

    def clean(self) -> None:
        self.normalise()


def id_number_index(id_number: str) -> str:
    return blind_index(id_number, purpose="person.id_number") if id_number else ""


class Occupancy(models.Model):
    """A person's link to a unit (owner, co-owner, tenant, family) over a span of dates."""

    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        CO_OWNER = "co_owner", _("Co-owner")
        TENANT = "tenant", _("Tenant")
        FAMILY = "family", _("Family member")

    unit = models.ForeignKey(
        Unit, verbose_name=_("unit"), on_delete=models.PROTECT, related_name="occupancies"
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="occupancies"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    start_date = models.DateField(_("from"))
    end_date = models.DateField(_("until"), null=True, blank=True)
    is_payer = models.BooleanField(_("pays the fees"), default=False)

    class Meta:
        verbose_name = _("occupancy")
        verbose_name_plural = _("occupancies")
        ordering = ["unit_id", "start_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["unit", "person", "role", "start_date"], name="occupancy_unique"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="occupancy_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} · {self.get_role_display()} · {self.unit}"

    def clean(self) -> None:
        if self.unit_id and self.person_id and self.unit.community_id != self.person.community_id:
            raise ValidationError(_("The person and the unit belong to different communities."))
        if self.end_date and self.start_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": _("The end date is before the start date.")})
