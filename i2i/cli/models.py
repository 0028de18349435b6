"""`i2i models`: the registered models (plugins included) with their weights."""

from __future__ import annotations

from i2i.cli._common import JsonFlag, app, friendly_errors, show_listing


def _cells(row: dict) -> list[str]:
    if row["status"] != "ok":
        return [f"[yellow]{row['name']}[/]", "[yellow]broken plugin[/]", "", row["error"], ""]
    marked = [w + ("*" if w in row["weights_non_commercial"] else "") for w in row["weights"]]
    return [row["name"], row["task"], row["license"], row["description"], "\n".join(marked)]


@app.command()
@friendly_errors
def models(as_json: JsonFlag = False) -> None:
    """List the registered models (plugins included) with their weights.

    Example: `i2i models --json`
    """
    from i2i.api import list_models

    show_listing(
        list_models(),
        as_json,
        "i2i models",
        ("name", "task", "licence", "description", "weights"),
        _cells,
        caption="* non-commercial: licence or training data (see `i2i weights list`)",
    )
