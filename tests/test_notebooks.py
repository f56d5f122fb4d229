"""Every committed notebook runs top to bottom (nbclient, a real kernel) and is committed without outputs."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

pytestmark = (
    pytest.mark.slow
)  # model training / notebooks / LLaMA-Factory: `make test-fast` skips them

NOTEBOOKS = sorted(p for p in ROOT.glob("*/*.ipynb") if ".ipynb_checkpoints" not in str(p))


def test_notebooks_exist():
    names = {p.name for p in NOTEBOOKS}
    assert {"build_finetune_dataset.ipynb", "check_pass_k.ipynb", "Preliminary_experiment.ipynb",
            "Ablation_Study.ipynb", "check_model_output.ipynb", "solve_replay.ipynb"} <= names  # fmt: skip


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory):
    """A kernelspec for this very interpreter, ahead of any user or system kernel on JUPYTER_PATH."""
    import json
    import os
    import sys

    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "deepprune-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "deepprune tests", "language": "python"})
    )
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(root) + (os.pathsep + old if old else "")
    yield "deepprune-test"
    if old is None:
        os.environ.pop("JUPYTER_PATH")
    else:
        os.environ["JUPYTER_PATH"] = old


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_runs(path: Path, kernel_name):
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit notebooks without outputs"
    )
    NotebookClient(
        nb, timeout=600, kernel_name=kernel_name, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
