"""Consent attestations: TOML and JSON, every required field checked in one line, the hash of the bytes."""

from __future__ import annotations

import datetime
import hashlib
import json

import pytest

from i2i.errors import I2IError
from i2i.io import consent
from i2i.io.consent import parse_attestation, read_attestation, write_template
from tests.safeguards.conftest import CONSENT

VALID = {
    "subjects": ["Alex Example"],
    "consent": {"given": True, "statement": "Signed a release form."},
    "use": "a test",
    "date": "2026-01-31",
}


def test_toml_attestation_is_read_and_hashed(consent_file):
    found = read_attestation(consent_file)
    assert found.subjects == ("Alex Example", "Sam Example")
    assert found.statement == "Both subjects agreed in writing."
    assert found.use == "tests of the i2i safeguards"
    assert found.date == datetime.date(2026, 1, 31)
    assert found.reference == "none" and found.contact is None
    assert found.sha256 == hashlib.sha256(consent_file.read_bytes()).hexdigest()
    assert found.text == CONSENT


def test_json_attestation(tmp_path):
    path = tmp_path / "consent.json"
    path.write_text(json.dumps(VALID | {"contact": "someone@example.org"}))
    found = read_attestation(path)
    assert found.subjects == ("Alex Example",) and found.contact == "someone@example.org"
    assert found.date == datetime.date(2026, 1, 31)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subjects": None}, "subjects"),
        ({"subjects": []}, "subjects"),
        ({"subjects": ["", "x"]}, "subjects"),
        ({"consent": None}, "consent"),
        ({"consent": {"given": False, "statement": "no"}}, "consent"),
        ({"consent": {"given": "yes", "statement": "no"}}, "consent"),
        ({"consent": {"given": True}}, "consent"),
        ({"consent": True}, "consent"),
        ({"use": None}, "use"),
        ({"use": "  "}, "use"),
        ({"date": None}, "date"),
        ({"date": "last week"}, "date"),
        ({"contact": 5}, "contact"),
    ],
)
def test_missing_or_invalid_field_is_named_in_one_line(change, field):
    data = {k: v for k, v in (VALID | change).items() if v is not None}
    with pytest.raises(I2IError) as caught:
        parse_attestation(json.dumps(data).encode(), name="c.json")
    message = str(caught.value)
    assert f"'{field}'" in message and "\n" not in message and message.startswith("c.json:")


def test_unreadable_attestations(tmp_path):
    with pytest.raises(I2IError, match="cannot read"):
        read_attestation(tmp_path / "missing.toml")
    with pytest.raises(I2IError, match="not valid TOML"):
        parse_attestation(b"subjects = [", name="c.toml")
    with pytest.raises(I2IError, match="not valid JSON"):
        parse_attestation(b"{subjects", name="c.json")
    with pytest.raises(I2IError, match="table of fields"):
        parse_attestation(b"[1, 2]", name="c.json")
    with pytest.raises(I2IError, match="UTF-8"):
        parse_attestation(b"\xff\xfe", name="c.toml")


def test_the_template_is_valid_once_consent_is_given(tmp_path):
    path = write_template(tmp_path / "consent.toml")
    with pytest.raises(I2IError, match="field 'consent' must have given = true"):
        read_attestation(path)  # as written, it attests nothing
    path.write_text(path.read_text().replace("given = false", "given = true"))
    assert read_attestation(path).subjects == ("Alex Example (source face)", "Sam Example (target footage)")
    with pytest.raises(I2IError, match="exists"):
        write_template(path)


def test_a_model_class_that_needs_consent_is_refused_without_one(consent_file):
    class Plain:
        needs_consent = False

    class Guarded:
        name = "guarded"
        needs_consent = True

    assert consent.for_model(Plain, None) is None
    with pytest.raises(I2IError, match="guarded needs a consent attestation: give --consent FILE"):
        consent.for_model(Guarded, None)
    assert consent.for_model(Guarded, consent_file).sha256 == read_attestation(consent_file).sha256


def test_the_template_command(tmp_path):
    from typer.testing import CliRunner

    from i2i.cli import app

    path = tmp_path / "consent.toml"
    result = CliRunner().invoke(app, ["faces", "consent-template", str(path)])
    assert result.exit_code == 0 and "given = true" in result.output
    assert path.read_text() == consent.TEMPLATE
    again = CliRunner().invoke(app, ["faces", "consent-template", str(path)])
    assert again.exit_code == 1 and "exists" in again.output
