"""Points of sale and cashiers (M6), and the owner's own point (M5.4).

Every function takes objects the caller already loaded through `security.scoped`, plus plain form
values; a point or cashier named in the form is looked up again inside the same merchant, so a
foreign public id is simply "not found".
"""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..gateways.sms import queue_sms
from ..models import Merchant, Payment, Point, User, utcnow
from ..models.merchant import ADDRESS_MAX, POINT_NAME_MAX
from ..models.user import NAME_MAX
from . import Conflict, Invalid, audit, auth, validation as v

# Any pair of real coordinates; the map only lets you drop a pin where the tiles are.
LATITUDE_RANGE = (-90.0, 90.0)
LONGITUDE_RANGE = (-180.0, 180.0)

POINT_RULES = {
    "name": (v.text, {"maximum": POINT_NAME_MAX}),
    "address": (v.text, {"maximum": ADDRESS_MAX}),
}
# What an owner may change about a cashier (M6.5): INN and phone are fixed at creation.
CASHIER_FIXED_FIELDS = ("inn", "phone")
FIXED_FIELD_MESSAGES = {
    ("inn",): _l("The INN cannot be changed. For another person, add a new cashier."),
    ("phone",): _l("The phone number cannot be changed. For another person, add a new cashier."),
    ("inn", "phone"): _l("The INN and phone number cannot be changed. For another person, add a new cashier."),
}


def live_points(merchant_id: int) -> list[Point]:
    return list(db.session.scalars(select(Point).where(Point.merchant_id == merchant_id,
                                                       Point.archived_at.is_(None)).order_by(Point.name, Point.id)))


def cashiers(merchant_id: int) -> list[User]:
    return list(db.session.scalars(select(User).options(joinedload(User.point))
                                   .where(User.merchant_id == merchant_id, User.role == "cashier")
                                   .order_by(User.active.desc(), User.name, User.id)))


def active_cashiers_at(point: Point) -> list[User]:
    return list(db.session.scalars(select(User).where(User.point_id == point.id, User.role == "cashier",
                                                      User.active.is_(True)).order_by(User.name)))


def point_has_payments(point: Point) -> bool:
    return bool(db.session.scalar(select(exists().where(Payment.point_id == point.id))))


def _coordinate(value: str, bounds: tuple[float, float]) -> float:
    try:
        number = float((value or "").strip().replace(",", "."))
    except ValueError:
        raise v.FieldError(_l("Put the pin on the map.")) from None
    if not bounds[0] <= number <= bounds[1]:
        raise v.FieldError(_l("Put the pin on the map."))
    return number


def _clean_point(data: dict[str, str]) -> dict[str, object]:
    clean, errors = v.collect(POINT_RULES, data)
    location, location_errors = v.collect({"latitude": (_coordinate, {"bounds": LATITUDE_RANGE}),
                                           "longitude": (_coordinate, {"bounds": LONGITUDE_RANGE})}, data)
    if location_errors:
        # One pin, one message: the two numbers are never entered separately on the map.
        errors["location"] = next(iter(location_errors.values()))
    if errors:
        raise Invalid(errors)
    return {**clean, **location}


def create_point(merchant: Merchant, data: dict[str, str], actor: User) -> Point:
    clean = _clean_point(data)
    point = Point(merchant_id=merchant.id, **clean)
    db.session.add(point)
    db.session.flush()
    audit.record(actor, "point.create", merchant_id=merchant.id, obj=point)
    return point


def update_point(point: Point, data: dict[str, str], actor: User) -> Point:
    if point.archived_at is not None:
        raise Conflict(_("This point is archived and can no longer be changed."))
    for field, value in _clean_point(data).items():
        setattr(point, field, value)
    audit.record(actor, "point.update", merchant_id=point.merchant_id, obj=point)
    return point


def remove_point(point: Point, actor: User) -> str:
    """Delete a point, or archive it when payments name it (history keeps its name).

    Returns "archived" or "deleted". Active cashiers must be moved to another point first: a
    cashier without a point could not take a payment.
    """
    if point.archived_at is not None:
        raise Conflict(_("This point is already archived."))
    if active_cashiers_at(point):
        raise Conflict(_("Move this point's active cashiers to another point first."))
    # Inactive cashiers and owners who chose this point simply lose it; they pick another later.
    for user in db.session.scalars(select(User).where(User.point_id == point.id)):
        user.point_id = None
    if point_has_payments(point):
        point.archived_at = utcnow()
        outcome = "archived"
    else:
        db.session.delete(point)
        outcome = "deleted"
    audit.record(actor, f"point.{outcome}", merchant_id=point.merchant_id, obj=point)
    db.session.flush()
    return outcome


def _live_point(public_id: str, *, merchant_id: int) -> Point:
    point = db.session.scalar(select(Point).where(Point.merchant_id == merchant_id, Point.archived_at.is_(None),
                                                  Point.public_id == (public_id or "").strip()))
    if point is None:
        raise v.FieldError(_l("Choose a point of sale."))
    return point


def _phone_taken(phone: str, *, except_user: User | None = None) -> bool:
    stmt = select(User.id).where(User.phone == phone, User.active.is_(True))
    if except_user is not None:
        stmt = stmt.where(User.id != except_user.id)
    return db.session.scalar(stmt) is not None


def _send_credentials(cashier: User, merchant: Merchant) -> None:
    password = auth.generate_password()
    cashier.password_hash = auth.hash_password(password)
    queue_sms(cashier.phone, _("MKASSA, %(shop)s: your login %(login)s, password %(password)s",
                               shop=merchant.display_name, login=cashier.login, password=password))


def create_cashier(merchant: Merchant, data: dict[str, str], actor: User) -> User:
    """A cashier with a generated login and password, sent to the cashier's phone by SMS (M6.4)."""
    rules = {"point": (_live_point, {"merchant_id": merchant.id}),
             "name": (v.text, {"maximum": NAME_MAX}),
             "inn": (v.inn, {"person": True}),
             "phone": (v.phone, {})}
    clean, errors = v.collect(rules, data)
    if "phone" in clean and _phone_taken(clean["phone"]):
        errors["phone"] = _("This phone number already belongs to an active user.")
    if errors:
        raise Invalid(errors)
    cashier = User(merchant_id=merchant.id, role="cashier", login=auth.generate_login(merchant.display_name),
                   password_hash="", name=clean["name"], inn=clean["inn"], phone=clean["phone"],
                   point_id=clean["point"].id)
    _send_credentials(cashier, merchant)
    db.session.add(cashier)
    db.session.flush()
    audit.record(actor, "cashier.create", merchant_id=merchant.id, obj=cashier)
    return cashier


def _changed(field: str, raw: str, current: str | None) -> bool:
    value = (raw or "").strip()
    if field == "phone":
        try:
            value = v.phone(value)  # the same number typed as 0555… is not a change
        except v.FieldError:
            return True
    return value != (current or "")


def update_cashier(cashier: User, data: dict[str, str], actor: User) -> User:
    """Change a cashier's point and name. INN and phone identify the person: refused, not ignored."""
    tampered = tuple(field for field in CASHIER_FIXED_FIELDS
                     if field in data and _changed(field, data[field], getattr(cashier, field)))
    # One message that names what was refused (the form shows these fields as text, not inputs).
    errors = {"fixed": FIXED_FIELD_MESSAGES[tampered]} if tampered else {}
    clean, rule_errors = v.collect({"point": (_live_point, {"merchant_id": cashier.merchant_id}),
                                    "name": (v.text, {"maximum": NAME_MAX})}, data)
    errors.update(rule_errors)
    if errors:
        raise Invalid(errors)
    cashier.point_id, cashier.name = clean["point"].id, clean["name"]
    audit.record(actor, "cashier.update", merchant_id=cashier.merchant_id, obj=cashier)
    return cashier


def set_cashier_active(cashier: User, active: bool, actor: User) -> User:
    if active and not cashier.active:
        if cashier.point is None or cashier.point.archived_at is not None:
            raise Conflict(_("Choose a point for this cashier first."))
        if _phone_taken(cashier.phone, except_user=cashier):
            raise Conflict(_("This phone number already belongs to an active user."))
    if not active:
        # Every session and device of the cashier ends now, not when it next expires.
        auth.revoke_user_sessions(cashier)
    cashier.active = active
    audit.record(actor, "cashier.activate" if active else "cashier.deactivate",
                 merchant_id=cashier.merchant_id, obj=cashier)
    return cashier


def resend_credentials(cashier: User, actor: User) -> None:
    """A new password by SMS; the old one, and every session opened with it, stop working."""
    if not cashier.active:
        raise Conflict(_("Activate the cashier first."))
    _send_credentials(cashier, cashier.merchant)
    auth.revoke_user_sessions(cashier)
    audit.record(actor, "cashier.credentials_sent", merchant_id=cashier.merchant_id, obj=cashier)


def choose_own_point(owner: User, public_id: str) -> Point:
    """The point an owner's own payments are attributed to (M5.4); switchable at any time."""
    try:
        point = _live_point(public_id, merchant_id=owner.merchant_id)
    except v.FieldError as exc:
        raise Invalid({"point": str(exc)}) from None
    owner.point_id = point.id
    audit.record(owner, "owner.point", merchant_id=owner.merchant_id, obj=point)
    return point


def count_cashiers_by_point(merchant_id: int) -> dict[int, int]:
    rows = db.session.execute(select(User.point_id, func.count()).where(
        User.merchant_id == merchant_id, User.role == "cashier", User.active.is_(True))
        .group_by(User.point_id))
    return {point_id: count for point_id, count in rows}
