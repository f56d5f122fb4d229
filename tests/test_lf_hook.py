import os
import subprocess
import sys

import pytest

from deepprune.cli import main
from deepprune.train import lf_hook

pytestmark = (
    pytest.mark.slow
)  # model training / notebooks / LLaMA-Factory: `make test-fast` skips them


def test_install_status_uninstall(tmp_path, capsys):
    assert main(["hook", "status", "--dir", str(tmp_path)]) == 1
    assert "not installed" in capsys.readouterr().out
    assert main(["hook", "install", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / lf_hook.PTH_NAME).read_text() == lf_hook.PTH_LINE
    assert main(["hook", "status", "--dir", str(tmp_path)]) == 0
    (tmp_path / lf_hook.PTH_NAME).write_text("import old\n")
    assert main(["hook", "status", "--dir", str(tmp_path)]) == 1
    assert "outdated" in capsys.readouterr().out
    assert main(["hook", "uninstall", "--dir", str(tmp_path)]) == 0
    assert not (tmp_path / lf_hook.PTH_NAME).exists()


def test_pth_line_is_one_import_line():
    # site.py executes a .pth line only if it starts with "import" and is one line
    assert lf_hook.PTH_LINE.startswith("import ") and lf_hook.PTH_LINE.count("\n") == 1


_PROBE = """
import sys
hooked = any(getattr(f, "deepprune_lf_hook", False) for f in sys.meta_path)
print("hooked", hooked, "deepprune_imported", "deepprune" in sys.modules)
import llamafactory.train.tuner
import llamafactory.hparams.parser as p
print("focal", any(c.__name__ == "FocalFinetuningArguments" for c in p._TRAIN_ARGS))
"""


def _probe(env_extra=None, pth_dir=None):
    env = dict(os.environ, **(env_extra or {}))
    code = _PROBE
    if pth_dir is not None:  # the .pth processed at start-up exactly as site.py would
        code = f"import site; site.addsitedir({str(pth_dir)!r})\n" + code
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_make_install_installed_the_hook():
    # `make install` runs `deepprune hook install`; the README's install is what CI runs
    assert lf_hook.status().startswith("installed"), lf_hook.status()


def test_pth_hook_patches_llamafactory_lazily(tmp_path):
    lf_hook.install(tmp_path)
    out = _probe(pth_dir=tmp_path)
    assert "hooked True deepprune_imported False" in out  # start-up stays cheap
    assert "focal True" in out  # llamafactory got the focal keys on import


def test_hook_can_be_switched_off():
    env = dict(os.environ, DEEPPRUNE_LF_HOOK="0")
    code = "import sys; print(any(getattr(f, 'deepprune_lf_hook', False) for f in sys.meta_path))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "False"
