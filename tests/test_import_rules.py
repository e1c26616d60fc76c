"""The data flow stays one way (ARCHITECTURE.md), read from the source with ``ast``: the library
imports no UI, training script or benchmark; the data package no loss; the benchmarks no page."""
import ast
from pathlib import Path

import pytest

from core.settings import REPO_ROOT

# (folder whose modules are checked, top-level names it must not import, why)
RULES = [
    ("core", ("app", "pages", "train", "bench"), "the library serves the UIs, training and benchmarks"),
    ("core/data", ("core.losses",), "data and augmentations stand below the losses"),
    ("bench", ("pages",), "benchmarks measure the library and the served UIs, not page modules"),
    ("pages", ("bench",), "the Results page reads recorded figures through core.reports"),
]


def imported_modules(path: Path) -> list[str]:
    """Every module the file at ``path`` imports, and every name it imports from one."""
    return imports_in(path.read_text(), ".".join(path.relative_to(REPO_ROOT).parts[:-1]))


def imports_in(source: str, package: str) -> list[str]:
    """Absolute names imported by ``source``, a module of ``package`` (relative imports resolved)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


def violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((REPO_ROOT / folder).rglob("*.py")):
        for name in imported_modules(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(REPO_ROOT)} imports {name}")
    return sorted(set(found))


@pytest.mark.parametrize("folder, forbidden, why", RULES, ids=[rule[0] for rule in RULES])
def test_imports_follow_the_data_flow(folder, forbidden, why):
    assert violations(folder, forbidden) == [], why


def test_the_checker_sees_imports_of_every_form():
    assert "core.data.augment.texture_swap" in imported_modules(REPO_ROOT / "core" / "data" / "perturb.py")
    assert "torch.nn.functional" in imported_modules(REPO_ROOT / "core" / "data" / "augment.py")
    assert "core.inference.gallery" in imported_modules(REPO_ROOT / "core" / "inference" / "__init__.py")
    assert "core/data/perturb.py imports torch" in violations("core/data", ("torch",))
    relative = imports_in("from ..losses import silog_loss\nfrom . import ms2\n", "core.data")
    assert relative == ["core.losses", "core.losses.silog_loss", "core.data", "core.data.ms2"]


def reads_environment_or_locates_repo(path: Path) -> bool:
    """Whether a module touches os.environ / os.getenv or works out a folder from ``__file__``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                and node.attr in ("environ", "getenv"):
            return True
        if isinstance(node, ast.Name) and node.id == "__file__":
            return True
    return False


def test_only_core_settings_reads_the_environment_or_locates_the_repository():
    folders = ("core", "app", "pages", "train", "bench", "scripts")
    modules = [path for folder in folders for path in sorted((REPO_ROOT / folder).rglob("*.py"))]
    readers = [str(path.relative_to(REPO_ROOT)) for path in modules if reads_environment_or_locates_repo(path)]
    assert readers == ["core/settings.py"]
