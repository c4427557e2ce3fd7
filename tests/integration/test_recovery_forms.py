"""Recovery and "Send password" keep what was typed after an error, but never echo a secret (#11).

Before: any error emptied every field (the code, both passwords, both PINs).
"""
from __future__ import annotations

from mkassa.services import devices

from .test_quick_access import NEW_PASSWORD, OWNER_PHONE, en, last_code, post, recover  # noqa: F401

SECRET_PIN = "4826"


def typed(code: str, password_repeat: str = NEW_PASSWORD, pin_repeat: str = SECRET_PIN) -> dict:
    return {"code": code, "password": NEW_PASSWORD, "password_repeat": password_repeat,
            "pin": SECRET_PIN, "pin_repeat": pin_repeat}


def test_without_javascript_the_code_is_kept_and_the_page_says_what_to_type_again(client, auth, demo, en):
    recover(client, auth, OWNER_PHONE)
    code = last_code()
    response = post(client, auth, "/recover/confirm", typed(code, pin_repeat="4827"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'name="code" type="text" value="{code}"' in html
    assert NEW_PASSWORD not in html and f'value="{SECRET_PIN}"' not in html  # secrets never go back into HTML
    assert 'data-testid="reset-retype"' in html and 'id="e-pin_repeat"' in html


def test_a_wrong_code_keeps_what_was_typed_in_it(client, auth, demo, en):
    recover(client, auth, OWNER_PHONE)
    wrong = f"{(int(last_code()) + 1) % 10000:04d}"
    html = post(client, auth, "/recover/confirm", typed(wrong)).get_data(as_text=True)
    assert f'value="{wrong}"' in html and "Wrong or expired code." in html and 'id="e-code"' in html


def test_with_htmx_only_the_form_comes_back_to_be_morphed_in_place(client, auth, demo, en):
    auth.login("demo")
    post(client, auth, "/account/password", {})
    code = last_code()
    token = auth.csrf("/account/password/confirm")
    response = client.post("/account/password/confirm", data={**typed(code, password_repeat="Other-pass-99"),
                                                               "csrf_token": token},
                           headers={"HX-Request": "true"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith("<form") and "<html" not in html and 'hx-swap="outerMorph"' in html
    assert f'value="{code}"' in html and 'id="e-password_repeat"' in html
    assert NEW_PASSWORD not in html and 'data-testid="reset-retype"' not in html  # the browser kept them
    # Corrected, the same form succeeds and the whole page moves on.
    response = client.post("/account/password/confirm", data={**typed(code), "csrf_token": token},
                           headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == "/" and client.get_cookie(devices.DEVICE_COOKIE)
