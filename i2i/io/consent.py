"""Consent attestations, and the safeguards any model may declare (`needs_consent = True`).

An attestation is a small TOML or JSON file that says who the subjects are, that each of them consented
(and how), to what use, and when. `read_attestation` checks it and hashes its bytes; the hash goes into
the checkpoint of a training run and into the provenance of every output (the file itself stays with the
user: names are not copied into outputs).

`Safeguards` is mixed into `i2i.model.Model`: a model class that declares the literal class attribute
`needs_consent = True` (read without importing it, like `task`) is refused by `i2i train` and
`i2i translate` without `--consent FILE`, and by `translate` in Python until `model.attest(FILE)`; its
outputs carry provenance (`i2i.io.provenance`) and, unless turned off and recorded as off, the visible
badge and the invisible watermark (`i2i.ops.marks`).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

from i2i.errors import I2IError
from i2i.io import provenance
from i2i.io.files import atomic_write_text

#: what the attestation must say, and how (used in the messages)
FIELDS = {
    "subjects": "a list naming every person whose face or likeness is used",
    "consent": "a table with given = true and a statement of how each subject consented",
    "use": "the use the subjects consented to",
    "date": "the date of the attestation, as an ISO date (YYYY-MM-DD)",
}
OPTIONAL = ("contact", "reference")
#: the marks a safeguarded model's outputs carry unless turned off (`Safeguards.set_marks`)
MARKS = ("badge", "watermark")

TEMPLATE = """\
# i2i consent attestation (TOML). Keep this file: outputs record its sha256, not its text.
subjects = ["Alex Example (source face)", "Sam Example (target footage)"]
use = "face replacement in shot 12 of the short film 'Example', credited as AI-modified"
date = 2026-01-31
contact = "producer@example.org"          # optional
reference = "release forms RF-12 and RF-13" # optional

[consent]
given = false   # true once every subject above has consented to this use
statement = "Both subjects signed release forms for face replacement in this production."
"""


@dataclass(frozen=True)
class Attestation:
    """A checked consent attestation: its fields, the file's text and the sha256 of its bytes."""

    subjects: tuple[str, ...]
    statement: str
    use: str
    date: datetime.date
    text: str
    sha256: str
    contact: str | None = None
    reference: str | None = None
    source: str | None = None


def read_attestation(path: str | os.PathLike) -> Attestation:
    """Read and check a TOML or JSON attestation; `I2IError` naming the first missing or invalid field."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise I2IError(f"{path}: cannot read the consent attestation ({exc.strerror or exc})") from None
    return parse_attestation(data, name=str(path))


def parse_attestation(data: bytes, *, name: str = "attestation") -> Attestation:
    """`read_attestation` on bytes already read (`name` is used in messages)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise I2IError(f"{name}: the consent attestation is not UTF-8 text") from None
    as_json = name.lower().endswith(".json") or text.lstrip().startswith("{")
    try:
        fields = json.loads(text) if as_json else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if as_json else "TOML"
        raise I2IError(f"{name}: the consent attestation is not valid {kind} ({_one_line(exc)})") from None
    if not isinstance(fields, dict):
        raise I2IError(f"{name}: the consent attestation must be a table of fields ({', '.join(FIELDS)})")

    def bad(field: str, problem: str) -> I2IError:
        return I2IError(
            f"{name}: consent attestation field '{field}' {problem}: {FIELDS.get(field, '')}".rstrip(": ")
        )

    for field in FIELDS:
        if field not in fields:
            raise bad(field, "is missing")
    subjects = fields["subjects"]
    if isinstance(subjects, str):
        subjects = [subjects]
    if not (
        isinstance(subjects, list) and subjects and all(isinstance(s, str) and s.strip() for s in subjects)
    ):
        raise bad("subjects", "must be a non-empty list of names")
    consent = fields["consent"]
    if not isinstance(consent, dict):
        raise bad("consent", "must be a table")
    if consent.get("given") is not True:
        raise bad("consent", "must have given = true (every subject consented)")
    statement = consent.get("statement")
    if not isinstance(statement, str) or not statement.strip():
        raise bad("consent", "needs a statement")
    use = fields["use"]
    if not isinstance(use, str) or not use.strip():
        raise bad("use", "must be a non-empty text")
    date = _date(fields["date"])
    if date is None:
        raise bad("date", "is not a date")
    optional = {}
    for field in OPTIONAL:
        value = fields.get(field)
        if value is not None and not isinstance(value, str):
            raise I2IError(f"{name}: consent attestation field '{field}' must be a text")
        optional[field] = value
    return Attestation(
        subjects=tuple(s.strip() for s in subjects),
        statement=statement.strip(),
        use=use.strip(),
        date=date,
        text=text,
        sha256=hashlib.sha256(data).hexdigest(),
        source=name,
        **optional,
    )


def write_template(path: str | os.PathLike) -> Path:
    """Write the attestation template (TOML, to be filled in) to `path`, atomically; refuses to replace."""
    path = Path(path)
    if path.exists():
        raise I2IError(f"{path} exists; the template is written to a new file")
    atomic_write_text(path, TEMPLATE)
    return path


def for_model(model_class: Any, path: str | os.PathLike | None) -> Attestation | None:
    """The attestation at `path` (None without one); a model class that needs consent is refused without."""
    if path is None:
        if getattr(model_class, "needs_consent", False):
            raise refusal(getattr(model_class, "name", "") or model_class.__name__)
        return None
    return read_attestation(path)


def as_attestation(value: Attestation | str | os.PathLike) -> Attestation:
    """An `Attestation` as it is, or one read from a file path."""
    return value if isinstance(value, Attestation) else read_attestation(value)


def _date(value: Any) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def refusal(model_name: str) -> I2IError:
    """The one line a safeguarded model is refused with when no attestation was given."""
    return I2IError(
        f"{model_name} needs a consent attestation: give --consent FILE (in Python: model.attest(FILE)); "
        "the README section 'Safeguards and responsible use' has a template"
    )


class Safeguards:
    """The consent and marks part of `i2i.model.Model` (see the module docstring)."""

    #: a safeguarded model (e.g. face swapping): refused without a consent attestation, outputs marked;
    #: a literal class attribute, read without importing the model
    needs_consent: ClassVar[bool] = False
    #: the attestation given with `attest` (None until then)
    attestation: Attestation | None = None
    _marks_off: frozenset[str] = frozenset()

    def attest(self, attestation: Attestation | str | os.PathLike) -> Any:
        """Attach a consent attestation (a TOML/JSON file or an `Attestation`); returns the model."""
        self.attestation = as_attestation(attestation)
        return self

    def require_consent(self) -> None:
        """`I2IError` (one line) if this model needs a consent attestation and has none."""
        if self.needs_consent and self.attestation is None:
            raise refusal(getattr(self, "name", "") or type(self).__name__)

    def set_marks(self, *, badge: bool | None = None, watermark: bool | None = None) -> Any:
        """Turn the visible badge / the invisible watermark of the outputs on or off (recorded in their
        provenance); returns the model."""
        off = set(self._marks_off)
        for mark, on in (("badge", badge), ("watermark", watermark)):
            if on is not None:
                (off.discard if on else off.add)(mark)
        self._marks_off = frozenset(off)
        return self

    @property
    def marks(self) -> dict[str, bool]:
        """Which marks this model's outputs carry (all on by default; only safeguarded models mark)."""
        return {mark: self.needs_consent and mark not in self._marks_off for mark in MARKS}

    def safeguard_tag(self) -> dict[str, str]:
        """The provenance fields of a safeguarded model's outputs (`i2i.io.provenance`); {} for others."""
        if not self.needs_consent:
            return {}
        return provenance.safeguard_fields(self.attestation.sha256 if self.attestation else None, self.marks)

    def consent_meta(self) -> dict[str, str]:
        """What a checkpoint records of the attestation (its sha256), if there is one."""
        return {"attestation_sha256": self.attestation.sha256} if self.attestation else {}
