"""The house rules that an import walk can check (docs/architecture.md)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a model knows about its world is data beside its weights (a profile), never an import.
PRODUCT_CODE = ["platform", "plugins", "ml_core/rerank.py", "ml_core/clip", "ml_core/index"]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (functions included), relative ones resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def python_files(entry: str) -> list[Path]:
    target = ROOT / entry
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


def test_the_import_walk_resolves_relative_imports(tmp_path):
    assert "ml_core.synth.contradictions" in imported_modules(ROOT / "ml_core" / "synth" / "profile.py")


def test_no_product_code_imports_the_synthetic_world():
    offenders = [f"{path.relative_to(ROOT)} imports {module}"
                 for entry in PRODUCT_CODE for path in python_files(entry)
                 for module in imported_modules(path)
                 if module == "ml_core.synth" or module.startswith("ml_core.synth.")]
    assert offenders == []
