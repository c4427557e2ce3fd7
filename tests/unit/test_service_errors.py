"""One path from a refused input to the form: `ServiceError.form_errors(field)`."""
from mkassa.services import Conflict, Invalid, ServiceError


def test_invalid_answers_its_own_messages_one_per_field():
    exc = Invalid({"name": "Required.", "phone": "Wrong."})
    assert exc.form_errors("form") == {"name": "Required.", "phone": "Wrong."}
    assert exc.status == 422


def test_any_other_refusal_is_shown_beside_the_field_the_view_names():
    assert ServiceError("No.").form_errors("amount") == {"amount": "No."}
    conflict = Conflict("Taken.")
    assert conflict.form_errors("form") == {"form": "Taken."} and conflict.status == 409
