"""`i2i env`: versions, devices and the precision `auto` picks on each."""

from __future__ import annotations

import json

from i2i.cli._common import JsonFlag, app, friendly_errors, print_json, show_listing


@app.command()
@friendly_errors
def env(as_json: JsonFlag = False) -> None:
    """Versions, devices and the precision `auto` picks on each.

    Example: `i2i env --json`
    """
    from i2i.runtime import environment_report

    report = environment_report()
    if as_json:
        print_json(report)
        return
    show_listing(
        list(report.items()),
        False,
        "i2i environment",
        ("key", "value"),
        lambda item: (item[0], json.dumps(item[1]) if isinstance(item[1], (dict, list)) else str(item[1])),
        show_header=False,
    )
