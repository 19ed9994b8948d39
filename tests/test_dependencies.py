"""Every third-party module the package imports is declared where it is installed from: the
product's in pyproject's dependencies and environment.yml, the sandbox's in the ``sandbox``
extra, and what a rule's job imports (its script and every quantmini module reachable from it)
in the conda env the rule names (``envs/*.yaml``), so ``--use-conda`` runs it."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

#: import name -> (PyPI distribution, conda package)
DISTRIBUTIONS = {
    "boto3": ("boto3", "boto3"),
    "botocore": ("boto3", "boto3"),  # boto3's own dependency, same release line
    "isal": ("isal", "python-isal"),
    "jsonschema": ("jsonschema", "jsonschema"),
    "matplotlib": ("matplotlib", "matplotlib"),
    "numpy": ("numpy", "numpy"),
    "pandas": ("pandas", "pandas"),
    "polars": ("polars", "polars"),
    "pyarrow": ("pyarrow", "pyarrow"),
    "requests": ("requests", "requests"),
    "scipy": ("scipy", "scipy"),
    "snakemake": ("snakemake", "snakemake-minimal"),
    "urllib3": ("urllib3", "urllib3"),
    "yaml": ("pyyaml", "pyyaml"),
    "exchange_calendars": ("exchange-calendars", "exchange-calendars"),
    "duckdb": ("duckdb", "python-duckdb"),
    "flask": ("flask", "flask"),
    "werkzeug": ("werkzeug", "werkzeug"),
    "moto": ("moto", "moto"),
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(quantmini modules, third-party top-level modules) one file imports, lazily or not."""
    tree = ast.parse(path.read_text())
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    ours, theirs = set(), set()

    def add(name: str) -> None:
        if name.split(".")[0] == "quantmini":
            ours.add(name)
        elif name.split(".")[0] not in sys.stdlib_module_names:
            theirs.add(name.split(".")[0])

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            add(module)
            for alias in node.names:  # ``from . import jobs`` imports a module
                add(f"{module}.{alias.name}")
    # lazily imported modules (quantmini.sessions: _Lazy("exchange_calendars"))
    for name in re.findall(r'_Lazy\("([a-z_]+)"\)', path.read_text()):
        add(name)
    return ours, theirs


def _files() -> dict[str, Path]:
    return {_module_name(p): p for p in (REPO / "quantmini").rglob("*.py")}


def _reachable(start: Path, files: dict[str, Path]) -> set[str]:
    """Third-party modules imported by ``start`` and every quantmini module it reaches."""
    seen, todo, out = set(), [start], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        ours, theirs = _imports(path)
        out |= theirs
        for name in ours:
            parts = name.split(".")
            for i in range(len(parts), 0, -1):  # a module, or the package holding a name
                candidate = ".".join(parts[:i])
                if candidate in files:
                    todo.append(files[candidate])
                    break
    return out


def _names(requirements) -> set[str]:
    return {re.split(r"[<>=!\[ ;]", str(r).strip(), maxsplit=1)[0].lower() for r in requirements if isinstance(r, str)}


def _conda(path: Path) -> set[str]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    out = set()
    for d in deps:
        out |= _names(d["pip"]) if isinstance(d, dict) else _names([d])
    return out


def test_every_import_has_a_known_distribution():
    files = _files()
    used = set().union(*(_imports(p)[1] for p in files.values()))
    used |= set().union(*(_imports(p)[1] for p in (REPO / "scripts").glob("*.py")))
    assert used - set(DISTRIBUTIONS) == set(), "add the module's distribution to DISTRIBUTIONS and declare it"


def test_product_imports_are_runtime_dependencies_and_the_sandbox_an_extra():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = _names(project["dependencies"])
    sandbox = _names(project["optional-dependencies"]["sandbox"])
    conda = _conda(REPO / "environment.yml")
    files = _files()
    product = set().union(*(_imports(p)[1] for name, p in files.items() if not name.startswith("quantmini.sandbox")))
    server = set().union(*(_imports(p)[1] for name, p in files.items() if name.startswith("quantmini.sandbox")))
    for module in sorted(product):
        pypi, conda_name = DISTRIBUTIONS[module]
        assert pypi in runtime, f"{module}: {pypi} not in pyproject's dependencies"
        assert conda_name in conda or pypi in conda, f"{module}: {conda_name} not in environment.yml"
    for module in sorted(server - product):
        pypi, conda_name = DISTRIBUTIONS[module]
        assert pypi in sandbox and pypi not in runtime, f"{module}: {pypi} belongs to the sandbox extra only"
        assert conda_name in conda or pypi in conda, f"{module}: {conda_name} not in environment.yml"
    assert not {"flask", "werkzeug", "moto"} & runtime


def test_each_rule_env_has_what_its_job_imports():
    files = _files()
    checked = in_process = 0
    for smk in (REPO / "rules").glob("*.smk"):
        text = smk.read_text()
        for rule in re.split(r"\n(?=rule |checkpoint )", text):
            env = re.search(r'conda:\s*\n\s*"([^"]+)"', rule)
            script = re.search(r'script:\s*\n\s*"([^"]+)"', rule)
            if re.search(r"\n    run:\n\s+jobs\.\w+\(", rule):
                # Runs in Snakemake's own process and environment (environment.yml, checked
                # above); Snakemake allows no conda env for a `run:` rule.
                assert not env, f"{smk.name}: a run: rule with a conda env"
                in_process += 1
            if not env or not script:
                continue
            declared = _conda((smk.parent / env.group(1)).resolve())
            needed = _reachable((smk.parent / script.group(1)).resolve(), files)
            for module in sorted(needed):
                pypi, conda_name = DISTRIBUTIONS[module]
                assert conda_name in declared, f"{smk.name}: {script.group(1)} imports {module}; add {conda_name} to {env.group(1)}"
            checked += 1
    assert checked >= 3 and in_process >= 9  # script: rules (silver fundamentals, ratios, Qlib daily), run: rules
