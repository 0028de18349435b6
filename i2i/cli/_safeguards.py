"""The safeguard flags of `i2i translate` and `i2i train` (`--consent`, `--no-badge`, `--no-watermark`),
for any model that declares `needs_consent = True` (`i2i.io.consent`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from i2i.errors import UsageError

Consent = Annotated[
    Path | None,
    typer.Option(
        "--consent",
        help="Consent attestation (TOML/JSON: subjects, consent, use, date) that safeguarded models "
        "(face swapping) need; its sha256 goes into every output's provenance.",
    ),
]
NoBadge = Annotated[
    bool,
    typer.Option(
        "--no-badge", help="Safeguarded models: no visible 'AI-modified' badge (recorded in the provenance)."
    ),
]
NoWatermark = Annotated[
    bool,
    typer.Option(
        "--no-watermark", help="Safeguarded models: no invisible watermark (recorded in the provenance)."
    ),
]


def check_named(model: str | None, consent: Path | None) -> None:
    """Before any work: a named model that needs consent, without `--consent`, is refused in one line (the
    registry reads `needs_consent` without importing the model)."""
    from i2i import registry
    from i2i.io.consent import refusal

    if model is not None and consent is None and registry.entry(model).needs_consent:
        raise refusal(model)


def prepare(
    loaded: Any, consent: Path | None, *, no_badge: bool, no_watermark: bool, no_provenance: bool
) -> None:
    """Attach the attestation and the marks to a loaded model; refuse a safeguarded one without consent or
    with `--no-provenance` (its outputs always say what made them)."""
    from i2i.cli._common import note
    from i2i.io.consent import read_attestation, refusal

    if not loaded.needs_consent:
        if no_badge or no_watermark:
            note(f"{loaded.name} outputs carry no marks; --no-badge and --no-watermark change nothing")
        if consent is not None:
            loaded.attest(read_attestation(consent))
        return
    if consent is None:
        raise refusal(loaded.name)
    if no_provenance:
        raise UsageError(
            f"{loaded.name} outputs always carry their provenance; --no-provenance is refused "
            "(--no-badge and --no-watermark turn the marks off, and that is recorded)"
        )
    loaded.attest(read_attestation(consent))
    loaded.set_marks(badge=not no_badge, watermark=not no_watermark)
