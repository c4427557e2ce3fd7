"""Layers: services never import the template layer (Jinja filters); what they format with is
`mkassa/formatting.py`, which itself knows nothing of Jinja."""
from __future__ import annotations

import ast
from pathlib import Path

import mkassa

PACKAGE = Path(mkassa.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules `path` imports (relative imports resolved)."""
    package = ".".join(("mkassa", *path.relative_to(PACKAGE).with_suffix("").parts[:-1]))
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def test_services_never_import_the_template_layer():
    offenders = [path.name for path in sorted((PACKAGE / "services").glob("*.py"))
                 if "mkassa.templating" in imported_modules(path)]
    assert offenders == []


def test_formatting_knows_no_jinja():
    assert not {m for m in imported_modules(PACKAGE / "formatting.py") if m.split(".")[0] == "jinja2"}
    assert "mkassa.formatting" in imported_modules(PACKAGE / "templating.py")
