"""Each fact is written once: a config default in the schema, the lake's layout in
quantmini/paths.py, a dataset's facts in its registry entry. These tests fail when one is
written a second time somewhere else (where two copies could disagree silently)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from quantmini import settings

REPO = Path(__file__).resolve().parents[1]
CODE = [*(REPO / "quantmini").rglob("*.py"), *(REPO / "scripts").glob("*.py"), *(REPO / "rules").glob("*.smk"),
        REPO / "Snakefile"]


def _code_lines(path: Path):
    """(line number, text) of the lines that are code: comments and docstrings left out."""
    text = path.read_text()
    skip = set()
    if path.suffix == ".py":
        for node in ast.walk(ast.parse(text)):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
                skip.update(range(body[0].lineno, body[0].end_lineno + 1))
    for n, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
        if n not in skip and code.strip():
            yield n, code


def test_no_config_default_outside_the_schema():
    """``config.get(key, default)`` writes a default a second time: the package reads the
    config with the schema's defaults filled in (settings.with_defaults / validate)."""
    found = []
    for path in CODE:
        for n, code in _code_lines(path):
            if re.search(r"\b(config|cfg)\.get\(\s*['\"][a-z_0-9]+['\"]\s*,", code):
                found.append(f"{path.relative_to(REPO)}:{n}: {code.strip()}")
    assert found == []


def test_config_file_sets_no_key_the_schema_defaults():
    schema = settings.load_schema()
    shipped = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    defaulted = set(settings.defaults(schema))
    assert set(shipped) & defaulted == set()
    assert set(shipped) <= set(schema["properties"])


def test_every_schema_key_is_documented_and_filled():
    schema = settings.load_schema()
    undocumented = [k for k, v in schema["properties"].items() if "description" not in v]
    assert undocumented == []
    filled = settings.with_defaults({})
    assert filled["refresh_days"] == schema["properties"]["refresh_days"]["default"]
    assert filled["rest_schedule"]["fundamentals"] == "sunday"


def test_nested_defaults_come_from_the_schema():
    from quantmini.rest import schedule

    defaults = settings.defaults()
    assert schedule.DEFAULT_SCHEDULE == defaults["rest_schedule"]
    assert schedule.DEFAULT_WINDOWS == defaults["rest_windows"]


def test_the_lake_layout_is_written_in_paths_only():
    """The path fragments of the lake's layout appear in code in quantmini/paths.py only (rule
    patterns included: the rules take theirs from quantmini.paths.Lake)."""
    fragments = re.compile(r"""["'/{](year=|month=|day=|pull_date=|window=|metadata/|\.quantmini/)""")
    found = []
    for path in CODE:
        if path == REPO / "quantmini" / "paths.py" or "sandbox" in path.parts:
            continue
        for n, code in _code_lines(path):
            if fragments.search(code):
                found.append(f"{path.relative_to(REPO)}:{n}: {code.strip()}")
    assert found == []


def test_a_datasets_facts_are_in_its_registry_entry():
    from quantmini import bronze
    from quantmini.datasets import FLATFILE_DATASETS

    assert set(bronze.SPECS) == set(FLATFILE_DATASETS)
    schema = settings.load_schema()
    assert schema["properties"]["datasets"]["items"]["enum"] == list(FLATFILE_DATASETS)
    for name, ds in FLATFILE_DATASETS.items():
        assert ds.bronze_mem_mb > 0 and ds.s3_key("2024-06-03").startswith(ds.s3_prefix + "/2024/06/")
    rules = (REPO / "rules" / "bronze.smk").read_text() + (REPO / "rules" / "common.smk").read_text()
    assert not re.search(r"\b\d{3,4}\b", re.sub(r"#.*", "", rules).replace("bronze_mem_mb", "")), \
        "a bronze memory figure written in the rules"
