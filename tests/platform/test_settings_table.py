"""Every environment variable the code reads is in README's settings table, and every row of the
table is read somewhere (DESIGN.md: settings from environment variables, documented in one table)."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READS = re.compile(r"""(?:os\.environ\.get|os\.environ\[|os\.getenv|env_int|env_bool)\(?\s*["']([A-Z][A-Z0-9_]+)["']""")
CONSTANT = re.compile(r"""^ENV_\w+ = ["']([A-Z][A-Z0-9_]+)["']""", re.M)
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE"}  # set by the entry points themselves


def read_by_code() -> set[str]:
    names = set()
    for folder in ("platform", "ml_core", "plugins", "tests"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text()
            names |= set(READS.findall(text)) | set(CONSTANT.findall(text))
    return names - NOT_SETTINGS


def in_readme_table() -> set[str]:
    rows = [line for line in (REPO / "README.md").read_text().splitlines() if re.match(r"\| `[A-Z]", line)]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_<>]+)`", row.split("|")[1])}


def test_every_variable_the_code_reads_is_in_the_readme_table():
    missing = read_by_code() - in_readme_table()
    assert not missing, f"add to README's settings table: {sorted(missing)}"


def test_every_row_of_the_table_is_read_by_the_code():
    documented = {n for n in in_readme_table() if "<" not in n}  # ATELIER_PLUGIN_<NAME>_<KEY>: a pattern
    unread = documented - read_by_code()
    assert not unread, f"README documents variables nothing reads: {sorted(unread)}"
