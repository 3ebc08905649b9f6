"""The README's client example, run as written against a live server (a real process over
HTTP): only the address and the two accounts are this test's own."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import onnx
import pytest
from sqlalchemy.orm import Session

from medfed.core.config import Settings
from tests.factories import make_user
from tests.utils.processes import medfed_env, running_server

README = Path(__file__).resolve().parents[2] / "README.md"


def example() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- client-example:start -->\s*```python\n(.*?)```\s*<!-- client-example:end -->",
        text,
        re.DOTALL,
    )
    assert found, "the README has no client example"
    return found.group(1)


def test_the_readme_client_example_runs_against_a_live_server(
    trained_settings: Settings,
    trained_db: Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_user(trained_db, "doctor", username="dr.grey")
    make_user(trained_db, "data_scientist", username="ada")
    trained_db.rollback()
    env = medfed_env(
        tmp_path / "home",
        trained_settings.resolved_database_url,
        MEDFED_ARTIFACTS_DIR=str(trained_settings.resolved_artifacts_dir),
    )
    code = example()
    assert code.count("https://medfed.example.org") == 2
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with running_server(env, tmp_path / "server.log") as server:
        runnable = code.replace("https://medfed.example.org", server.url)
        with contextlib.redirect_stdout(printed):
            exec(compile(runnable, "README.md (client example)", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert re.fullmatch(r"\d+% \((low|moderate|high)\): .+ (raises|lowers) the risk", lines[0]), (
        lines
    )
    assert re.fullmatch(r"\['\w+', '\w+'\]", lines[1]), lines
    assert 0 < float(lines[2]) < 1
    assert lines[3].startswith("patient.glucose") and "from 20 to 400 mg/dL" in lines[3]
    assert lines[4] == "cancelled"
    model = onnx.load(str(tmp_path / "diabetes-v1.0.onnx"))
    assert {p.key for p in model.metadata_props} >= {"medfed.disease", "medfed.model_card"}
