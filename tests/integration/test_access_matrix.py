"""The access matrix (issue #5, item 7): nothing of merchant A is readable or changeable outside A.

Walks every rule of `app.url_map` (so an endpoint added later is covered without touching this
file), fills its URL arguments with merchant A's objects, and sends every method the rule allows
as each kind of visitor: anonymous, the owner and a cashier of merchant B, a cashier of A where the
view's roles leave cashiers out, and the bank admin where its roles leave admins out. CSRF is on
and tokens are sent, so POSTs really reach the views. After every request:
  - A's rows (a hash of every row that belongs to A or points at A's users, points, payments,
    ledger) are unchanged;
  - the page carries none of A's private data (names, phones, INNs, account, addresses, payment ids);
  - a URL naming one of A's objects is refused (401/403/404, or the sign-in redirect).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date

import pytest
from sqlalchemy import func, or_, select
from werkzeug.routing import AnyConverter, IntegerConverter

from mkassa.extensions import db
from mkassa.models import Merchant, Payment, Point, User, UserSession
from mkassa.security import is_public
from mkassa.services.auth import hash_password
from mkassa.services.ledger import open_merchant_accounts

B_PASSWORD = "merchant-b-pass-1"
ADMIN_PASSWORD = "operator-pass-1"

# Public endpoints: reachable without signing in by design (security.PUBLIC_ENDPOINTS and the public
# blueprints). They are still walked: they must show none of A's data and change none of A's rows.
# Exceptions, each with its reason:
NOT_WALKED = {
    # The sandbox bank plays the Bank and the payer (SMS outbox, paying any QR): it sees every
    # merchant by design, and is mounted only in sandbox mode (production never registers it).
    "sandbox.": "sandbox tools",
}
SKIP_POST = {
    # Signing out ends the caller's own session and touches nothing else (tests/integration/test_auth.py).
    "auth.logout": "ends the caller's own session",
}
# A signed-in outsider may reach these with A's ids in the URL and get a page that is not about A
# (none so far: every object URL must answer 403/404).
OBJECT_URL_ALLOWED: set[str] = set()

# M10: a cashier takes payments and sees their own history and reports; these areas answer them 403
# whatever roles their views declare (points and cashiers, withdrawals, account status and statement,
# own point). The account blueprint's devices and send-password pages are every user's own.
OWNER_ONLY = ("org.", "payouts.", "account.index", "account.download", "profile.point")

REFUSED = {401, 403, 404}
# Columns that change when their owner merely uses the app, not when data is changed.
VOLATILE_COLUMNS = {"last_seen_at", "last_used_at"}
# Append-only logs may record an attempt; they never expose or change A's data.
NOT_FINGERPRINTED = {"audit_event"}


@dataclass
class World:
    merchant_a: Merchant
    owner_a: User
    cashier_a: User
    ids: dict[str, set[int]]            # table name -> ids of A's rows that other tables point at
    objects: dict[type, object]         # model -> one of A's rows (not cashier A's own, where it matters)
    markers: set[str]                   # A's private data, which must never show outside A
    phones: set[str]
    logins: dict[str, tuple[str, str]] = field(default_factory=dict)


def _merchant_b() -> None:
    merchant = Merchant(legal_name="ОсОО Бета", display_name="Beta", inn="02202201810011", mcc="5812",
                        account_number="1030120000077777", bank_name="Beta Bank", bank_bic="103002",
                        account_opened_on=date(2025, 2, 1))
    db.session.add(merchant)
    db.session.flush()
    point = Point(merchant_id=merchant.id, name="Beta point", address="Ош, ул. Ленина, 5",
                  latitude=40.51, longitude=72.80)
    db.session.add(point)
    db.session.flush()
    hashed = hash_password(B_PASSWORD)
    db.session.add_all([
        User(merchant_id=merchant.id, role="owner", login="betaowner", password_hash=hashed, name="Beta Owner",
             phone="+996700555001", point_id=point.id),
        User(merchant_id=merchant.id, role="cashier", login="betacashier", password_hash=hashed,
             name="Beta Cashier", phone="+996700555002", inn="10101199000111", point_id=point.id)])
    open_merchant_accounts(merchant.id)
    db.session.commit()


@pytest.fixture
def world(demo, admin_user) -> World:
    _merchant_b()
    a = demo.merchant
    users = list(db.session.scalars(select(User).where(User.merchant_id == a.id)))
    points = list(db.session.scalars(select(Point).where(Point.merchant_id == a.id)))
    # A payment the owner took: cashier A must not reach it either.
    owners_payment = db.session.scalar(select(Payment).where(Payment.cashier_id == demo.owner.id).limit(1))
    assert owners_payment is not None
    payments = list(db.session.scalars(select(Payment).where(Payment.merchant_id == a.id)))
    ids = {"merchant": {a.id}, "user_account": {u.id for u in users}, "point": {p.id for p in points},
           "payment": {p.id for p in payments}}
    # Every other table with a merchant_id: A's rows of it (ledger accounts, transfers…), so that
    # rows pointing at them (ledger entries…) count as A's as well.
    for table in db.metadata.sorted_tables:
        if table.name not in ids and "merchant_id" in table.c and "id" in table.c:
            ids[table.name] = set(db.session.scalars(select(table.c.id).where(table.c.merchant_id == a.id)))
    objects: dict[type, object] = {Point: points[0], User: demo.cashier2, Payment: owners_payment, Merchant: a}
    for mapper in db.Model.registry.mappers:
        model = mapper.class_
        if model in objects or not hasattr(model, "public_id"):
            continue
        if hasattr(model, "merchant_id"):
            row = db.session.scalar(select(model).where(model.merchant_id == a.id).limit(1))
        elif hasattr(model, "user_id"):
            row = db.session.scalar(select(model).where(model.user_id.in_(ids["user_account"])).limit(1))
        else:
            row = None
        if row is not None:
            objects[model] = row
    phones = {u.phone for u in users if u.phone}
    markers = {a.legal_name, a.account_number, a.inn}
    markers |= {u.name for u in users} | phones | {p[4:] for p in phones} | {u.inn for u in users if u.inn}
    markers |= {p.name for p in points} | {p.address for p in points} | {p.public_id for p in payments}
    world = World(a, demo.owner, demo.cashier, ids, objects, markers, phones)
    world.logins = {"owner_b": ("betaowner", B_PASSWORD), "cashier_b": ("betacashier", B_PASSWORD),
                    "cashier_a": ("cashier", "demo1234"), "admin": (admin_user.login, ADMIN_PASSWORD)}
    return world


def fingerprint(world: World) -> str:
    """A hash of every row that is A's or points at A's rows; changes if anything of A changes."""
    digest = hashlib.sha256()
    for table in db.metadata.sorted_tables:
        if table.name in NOT_FINGERPRINTED:
            continue
        conditions = []
        if table.name in world.ids and "id" in table.c:
            conditions.append(table.c.id.in_(world.ids[table.name]))
        for column in table.columns:
            for fk in column.foreign_keys:
                target = fk.column.table.name
                if target in world.ids:
                    conditions.append(column.in_(world.ids[target]))
        if "phone" in table.c:  # SMS to A's people (the sandbox outbox)
            conditions.append(table.c.phone.in_(world.phones))
        rows = []
        if conditions:
            columns = [c for c in table.columns if c.name not in VOLATILE_COLUMNS]
            rows = [tuple(map(repr, r)) for r in db.session.execute(select(*columns).where(or_(*conditions)))]
        if table.name == "outbox_message":  # SMS still waiting: A's if it goes to one of A's phones
            rows += [(repr(r.id), repr(r.payload)) for r in db.session.execute(select(table))
                     if (r.payload or {}).get("phone") in world.phones]
        digest.update(f"{table.name}:{sorted(rows)}".encode())
    db.session.rollback()  # end the read transaction: the app's requests write next
    return digest.hexdigest()


class Visitor:
    def __init__(self, app, name: str, credentials: tuple[str, str] | None):
        self.name, self.credentials = name, credentials
        self.client = app.test_client()
        self.client.set_cookie("lang", "en")
        self.user_id = None
        if credentials:
            self.sign_in()

    def token(self) -> str:
        html = self.client.get("/offline").get_data(as_text=True)
        return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)

    def sign_in(self) -> None:
        login, password = self.credentials
        response = self.client.post("/login", data={"login": login, "password": password, "csrf_token": self.token()})
        assert response.status_code == 302, f"{self.name} could not sign in"
        self.user_id = db.session.scalar(select(User.id).where(User.login == login))

    def signed_out(self) -> bool:
        """True when a request (a sign-out, a password change…) ended this visitor's session."""
        live = db.session.scalar(select(func.count()).where(UserSession.user_id == self.user_id,
                                                            UserSession.revoked_at.is_(None)))
        db.session.rollback()
        return self.user_id is not None and live == 0


def _stem(argument: str) -> str:
    name = argument.lower()
    for suffix in ("_public_id", "public_id", "_id"):
        name = name.removesuffix(suffix)
    return {"cashier": "user", "owner": "user", "employee": "user"}.get(name, name)


def argument_values(world: World, rule, argument: str) -> list[tuple[str, object | None]]:
    """Values for one URL argument: A's object of the matching model, or every one of A's objects."""
    converter = rule._converters.get(argument)
    if isinstance(converter, AnyConverter):
        return [(sorted(converter.items)[0], None)]
    stem = _stem(argument)
    matching = [obj for model, obj in world.objects.items() if stem and stem == model.__name__.lower()]
    candidates = matching or list(world.objects.values())
    if isinstance(converter, IntegerConverter):
        return [(str(obj.id), obj) for obj in candidates]
    return [(obj.public_id, obj) for obj in candidates]


def urls(world: World, rule) -> list[tuple[str, list[object]]]:
    """The rule's URL filled with A's objects: one URL per candidate (zipped across arguments)."""
    arguments = sorted(rule.arguments)
    if not arguments:
        return [(rule.rule, [])]
    options = {arg: argument_values(world, rule, arg) for arg in arguments}
    width = max(len(v) for v in options.values())
    filled = []
    for i in range(width):
        picked = {arg: values[i % len(values)] for arg, values in options.items()}
        path = rule.rule
        for arg, (value, _obj) in picked.items():
            path = re.sub(rf"<(?:[^:<>]+:)?{arg}>", value, path)
        filled.append((path, [obj for _value, obj in picked.values() if obj is not None]))
    return filled


def form_data(world: World, token: str) -> dict[str, str]:
    """A plausible form for any view: valid values, and A's point where a point is chosen."""
    point = world.objects[Point]
    return {"csrf_token": token, "name": "Matrix", "address": "Matrix street 1", "latitude": "42.8",
            "longitude": "74.6", "point": point.public_id, "point_id": point.public_id,
            "inn": "11203199500111", "phone": "+996555000777", "active": "0", "amount": "100",
            "lang": "en", "email": "matrix@example.com", "code": "0000", "pin": "1234"}


def body_of(response) -> str:
    if response.mimetype == "text/event-stream":
        return ""  # a stream that was not refused would be caught by the status check
    return response.get_data().decode("utf-8", "replace")  # images and files too


@dataclass
class Walk:
    requests: int = 0
    endpoints: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def expectations(endpoint: str, view, visitor: str, objects: list[object], world: World) -> tuple[bool, bool]:
    """(must not change A, must be refused) for this visitor; (False, False): A allows it, not sent."""
    roles = getattr(view, "roles", None)
    if visitor in ("anonymous", "owner_b", "cashier_b"):
        return True, bool(objects)
    role = {"cashier_a": "cashier", "admin": "admin"}[visitor]
    if roles is not None and role not in roles:
        return True, True
    if visitor == "cashier_a" and endpoint.startswith(OWNER_ONLY):
        return True, True
    if visitor == "cashier_a" and any(getattr(o, "cashier_id", world.cashier_a.id) != world.cashier_a.id
                                      for o in objects):
        return False, True  # another person's payment: scoped() hides it from a cashier
    if visitor == "admin" and roles is None:
        return True, False
    return False, False


def test_nothing_of_merchant_a_leaks_or_changes(app, world):
    visitors = {"anonymous": Visitor(app, "anonymous", None)}
    visitors |= {name: Visitor(app, name, creds) for name, creds in world.logins.items()}
    tokens = {name: v.token() for name, v in visitors.items()}
    baseline = fingerprint(world)
    walk = Walk()
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        if any(endpoint.startswith(prefix) for prefix in NOT_WALKED):
            continue
        view = app.view_functions[endpoint]
        public = is_public(endpoint)
        for path, objects in urls(world, rule):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if method != "GET" and endpoint in SKIP_POST:
                    continue
                for name, visitor in visitors.items():
                    guard, refuse = expectations(endpoint, view, name, objects, world)
                    if not guard and not refuse:
                        continue
                    data = form_data(world, tokens[name]) if method != "GET" else None
                    walk.requests += 1
                    walk.endpoints.add(endpoint)
                    try:
                        with visitor.client.open(path, method=method, data=data, buffered=False) as response:
                            status, location, body = response.status_code, response.location or "", body_of(response)
                    except Exception as exc:  # a crash is a defect too; keep walking to list them all
                        walk.problems.append(f"{method} {path} ({endpoint}) as {name} raised {exc!r:.300}")
                        continue
                    where = f"{method} {path} ({endpoint}) as {name}: {status}"
                    if refuse and endpoint not in OBJECT_URL_ALLOWED and not public:
                        to_login = status in (301, 302, 303) and "/login" in location and name == "anonymous"
                        allowed = {403} if name == "cashier_a" and endpoint.startswith(OWNER_ONLY) else REFUSED
                        if status not in allowed and not to_login:
                            walk.problems.append(f"{where}, expected {sorted(allowed)}")
                    if name in ("anonymous", "owner_b", "cashier_b"):
                        leaked = sorted(m for m in world.markers if m in body and m not in path)
                        if leaked:
                            walk.problems.append(f"{where} shows A's data: {leaked}")
                    if guard and fingerprint(world) != baseline:
                        walk.problems.append(f"{where} changed A's data")
                        baseline = fingerprint(world)
                    if visitor.credentials and visitor.signed_out():
                        visitor.sign_in()
                        tokens[name] = visitor.token()
                        baseline = fingerprint(world)
    assert not walk.problems, "\n".join(walk.problems)
    # The walk really happened: every area's screens were visited.
    assert {"org.index", "org.edit_point", "org.set_active", "profile.point", "home.index"} <= walk.endpoints
    assert walk.requests > 100


def test_the_matrix_sees_what_the_owner_may_see(app, world):
    """Control: the same URL filling and markers that stay hidden from others show for A's owner."""
    owner = Visitor(app, "owner_a", ("demo", "demo1234"))
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "org.edit_point")
    (path, objects), = urls(world, rule)
    assert objects == [world.objects[Point]]
    body = owner.client.get(path).get_data(as_text=True)
    assert world.objects[Point].name in body and world.objects[Point].name in world.markers


def test_the_matrix_catches_a_change(app, world):
    """Control: the fingerprint moves when one of A's rows changes."""
    before = fingerprint(world)
    cashier = db.session.get(User, world.cashier_a.id)
    cashier.name = "Changed"
    db.session.commit()
    assert fingerprint(world) != before
