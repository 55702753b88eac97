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


# The one place platform/ and plugins/ get a CLIP engine: engines are cached per (device, batch
# size), so a second call site with other arguments would load a second copy of the model.
ENGINE_ENTRY_POINT = Path("platform/atelier/embeddings/services.py")
ENGINE_BUILDERS = {"get_engine", "create_engine"}


def engine_builder_uses(path: Path) -> list[int]:
    """Lines where a file calls or imports ``get_engine``/``create_engine`` (by any access path)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in ENGINE_BUILDERS:
                lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and any(a.name in ENGINE_BUILDERS for a in node.names):
            lines.append(node.lineno)
    return lines


def test_the_engine_check_sees_calls_and_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from ml_core.clip import get_engine as g\nimport ml_core.clip as c\nc.create_engine('demo')\n")
    assert engine_builder_uses(sample) == [1, 3]


def test_platform_and_plugins_get_the_engine_only_through_the_configured_entry_point():
    offenders = [f"{path.relative_to(ROOT)}:{line}"
                 for entry in ("platform", "plugins") for path in python_files(entry)
                 if path.relative_to(ROOT) != ENGINE_ENTRY_POINT for line in engine_builder_uses(path)]
    assert offenders == [], "use atelier.embeddings.services.worker_engine() / configured_embed_dim()"
