"""Onboarding merchants from the bank console."""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from ..extensions import db
from ..models import Merchant, User
from ..models.merchant import LEGAL_NAME_MAX
from ..models.user import NAME_MAX
from ..gateways.sms import queue_sms
from . import Invalid, audit, auth, ledger, validation as v

MERCHANT_RULES = {
    "legal_name": (v.text, {"maximum": LEGAL_NAME_MAX}),
    "display_name": (v.display_name, {}),
    "inn": (v.inn, {}),
    "mcc": (v.mcc, {}),
    "account_number": (v.account_number, {}),
    "bank_name": (v.text, {"maximum": 200}),
    "bank_bic": (v.text, {"maximum": 16}),
    "owner_name": (v.text, {"maximum": NAME_MAX}),
    "owner_phone": (v.phone, {}),
}


def _opened_on(value: str) -> date:
    try:
        opened = date.fromisoformat((value or "").strip())
    except ValueError:
        raise v.FieldError(_("Enter the date the account was opened.")) from None
    if opened > date.today():
        raise v.FieldError(_("The account cannot be opened in the future."))
    return opened


def create_merchant(data: dict[str, str], actor: User) -> tuple[Merchant, User]:
    """Create a merchant with its owner; the owner's login and password go out by SMS."""
    rules = dict(MERCHANT_RULES, account_opened_on=(_opened_on, {}))
    clean, errors = v.collect(rules, data)
    mbank = (data.get("mbank_phone") or "").strip()
    if mbank:
        try:
            clean["mbank_phone"] = v.phone(mbank)
        except v.FieldError as exc:
            errors["mbank_phone"] = str(exc)
    if "owner_phone" in clean and db.session.scalar(
            select(User.id).where(User.phone == clean["owner_phone"], User.active.is_(True))):
        errors["owner_phone"] = _("This phone number already belongs to an active user.")
    if errors:
        raise Invalid(errors)
    merchant = Merchant(
        legal_name=clean["legal_name"], display_name=clean["display_name"], inn=clean["inn"],
        mcc=clean["mcc"], account_number=clean["account_number"], bank_name=clean["bank_name"],
        bank_bic=clean["bank_bic"], account_opened_on=clean["account_opened_on"],
        mbank_phone=clean.get("mbank_phone"), is_bank_client=bool(data.get("is_bank_client")),
        has_mpos_contract=bool(data.get("has_mpos_contract")))
    db.session.add(merchant)
    db.session.flush()
    password = auth.generate_password()
    owner = User(merchant_id=merchant.id, role="owner", login=auth.generate_login(clean["display_name"]),
                 password_hash=auth.hash_password(password), phone=clean["owner_phone"],
                 name=clean["owner_name"], inn=clean["inn"] if clean["inn"][0] in "12" else None)
    db.session.add(owner)
    db.session.flush()
    ledger.open_merchant_accounts(merchant.id)
    queue_sms(owner.phone, _("MKASSA: your login %(login)s, password %(password)s",
                             login=owner.login, password=password))
    audit.record(actor, "merchant.create", merchant_id=merchant.id, obj=merchant)
    return merchant, owner


def set_mpos_contract(merchant: Merchant, on: bool, actor: User) -> Merchant:
    """The Bank signs (or ends) a merchant's MPOS contract: its people may take cards (M9.2). Audited."""
    if merchant.has_mpos_contract != on:
        merchant.has_mpos_contract = on
        audit.record(actor, "merchant.mpos_on" if on else "merchant.mpos_off", merchant_id=merchant.id,
                     obj=merchant)
    return merchant


def merchant_by_public_id(public_id: str) -> Merchant | None:
    return db.session.scalar(select(Merchant).where(Merchant.public_id == public_id))
