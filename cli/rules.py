"""``gridgov rules``: check an SLA rules file and read every category's limits in words."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from api.settings import Settings
from cases.rules import RulesError, load_rules
from cli.wording import fail, tell

app = typer.Typer(help="SLA rules: deadlines per level, clocks, departments.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command("check")
def check(
    path: Annotated[
        Path | None, typer.Argument(help="Rules file (default: GRIDGOV_SLA_RULES_FILE or the shipped one)")
    ] = None,
) -> None:
    """Validate a rules file; print each category's limits, clock and department, and the calendar's reach."""
    settings = Settings()
    if path is None:
        rules = settings.rules()
    else:
        workdays = Path(settings.sla.workdays_file) if settings.sla.workdays_file else None
        try:
            rules = load_rules(path, workdays)
        except RulesError as exc:
            fail("cli.invalid_rules", why=str(exc))
    for old, new in sorted(rules.renamed.items()):
        console.print(tell("cli.rules_renamed", old=old, new=new, name=rules.known[new].name), highlight=False)
    for code, category in sorted(rules.known.items()):
        console.print(rules.describe(code), highlight=False, soft_wrap=True)
        for condition in category.conditions:
            console.print("  " + rules.describe(f"{code}/{condition.number}"), highlight=False, soft_wrap=True)
    console.print(tell("cli.calendar", through=str(rules.calendar.official_through())), highlight=False)
