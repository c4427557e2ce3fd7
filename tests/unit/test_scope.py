"""Every model that belongs to a merchant has an explicit access rule; a model without one is refused."""
from __future__ import annotations

import types

import pytest

from mkassa.extensions import db
from mkassa.models import Merchant, Payment
from mkassa.scope import RULES, Unscoped, select_for


def test_every_model_with_a_merchant_id_has_a_rule():
    merchant_models = {m.class_ for m in db.Model.registry.mappers if "merchant_id" in m.columns}
    assert merchant_models, "no model found: the mapper registry was not loaded"
    missing = sorted(m.__name__ for m in merchant_models - RULES.keys())
    assert missing == [], f"add a rule to mkassa.scope.RULES for {missing}"


def test_a_model_without_a_rule_is_refused_not_guessed():
    owner = types.SimpleNamespace(is_admin=False, is_cashier=False, merchant_id=1, id=1, point_id=None)
    with pytest.raises(Unscoped):
        select_for(Merchant, owner)
    # Bank staff too: a missing rule is a programming error, whoever reads.
    with pytest.raises(Unscoped):
        select_for(Merchant, types.SimpleNamespace(is_admin=True))


def test_a_cashier_sees_own_payments_and_an_owner_the_merchants():
    cashier = types.SimpleNamespace(is_admin=False, is_cashier=True, merchant_id=7, id=3, point_id=None)
    owner = types.SimpleNamespace(is_admin=False, is_cashier=False, merchant_id=7, id=1, point_id=None)
    assert "cashier_id" in str(select_for(Payment, cashier).whereclause)
    assert "cashier_id" not in str(select_for(Payment, owner).whereclause)
