"""The LLM judge: P("yes") / (P("yes") + P("no")) of the next token after the judge prompt.

    deepprune judge eval DeepPrune_data/demo_pairs/test.jsonl --judge llm:/path/to/model

The prompt is the one the pair builder writes (:func:`deepprune.judges.prompt.judge_prompt`),
wrapped in the model's chat template when it has one (as LLaMA-Factory does for
Alpaca data: instruction and input joined by a newline in one user turn). One forward
pass per batch, no sampling. Backends: ``transformers`` (tested; CPU or GPU, left
padding, bf16 on GPUs that support it) and ``vllm`` (optional GPU extra, imported
lazily: logprobs of the first generated token with ``max_tokens=1``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

import numpy as np

from deepprune.errors import ConfigError, MissingInputError
from deepprune.judges.base import Judge, JudgeCost, JudgePair
from deepprune.judges.prompt import NEGATIVE, POSITIVE, judge_prompt

BACKENDS = ("transformers", "vllm")


def render_prompt(tokenizer, pair: JudgePair, use_question: bool = False) -> str:
    """The exact text fed to the model for one pair."""
    instruction, inp = judge_prompt(
        pair.prefix_a, pair.prefix_b, pair.question if use_question else None
    )
    user = f"{instruction}\n{inp}"
    if getattr(tokenizer, "chat_template", None):
        kwargs = {}
        if "enable_thinking" in (tokenizer.chat_template or ""):
            kwargs["enable_thinking"] = False  # qwen3: score the answer, not a thinking block
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": user}],
            tokenize=False,
            add_generation_prompt=True,
            **kwargs,
        )
    return f"{user}\n"


def label_token_ids(tokenizer) -> tuple[int, int]:
    """First token ids of "yes" and "no" as the model would generate them."""
    ids = []
    for word in (POSITIVE, NEGATIVE):
        toks = tokenizer(word, add_special_tokens=False)["input_ids"]
        if not toks:
            raise ConfigError(f"tokenizer encodes {word!r} to no tokens")
        ids.append(toks[0])
    if ids[0] == ids[1]:
        raise ConfigError(
            "'yes' and 'no' share their first token; the judge cannot tell them apart"
        )
    return ids[0], ids[1]


# one greedy token; its top-20 logprobs hold "yes" and "no" (our choice: 20, vLLM's usual cap)
VLLM_SAMPLING = {"max_tokens": 1, "temperature": 0.0, "logprobs": 20}


def build_vllm_requests(
    tokenizer, pairs: Sequence[JudgePair], use_question: bool = False
) -> list[dict]:
    """vLLM generate() inputs plus the sampling settings the judge needs (no vLLM import)."""
    return [{"prompt": render_prompt(tokenizer, p, use_question), **VLLM_SAMPLING} for p in pairs]


def yes_probability(logprob_yes: float | None, logprob_no: float | None) -> float:
    """P(yes)/(P(yes)+P(no)) from two (possibly missing) log-probabilities."""
    if logprob_yes is None and logprob_no is None:
        return 0.5
    if logprob_yes is None:
        return 0.0
    if logprob_no is None:
        return 1.0
    m = max(logprob_yes, logprob_no)
    ey, en = math.exp(logprob_yes - m), math.exp(logprob_no - m)
    return ey / (ey + en)


class LLMJudge(Judge):
    """A causal LM from a local path used as a yes/no judge."""

    def __init__(
        self,
        path: str,
        backend: str = "transformers",
        batch_size: int = 16,
        both_orders: bool = False,
        use_question: bool = False,
        device: str | None = None,
        dtype: str | None = None,
        max_length: int = 4096,
    ):
        if backend not in BACKENDS:
            raise ConfigError(f"unknown llm backend {backend!r}; known: {', '.join(BACKENDS)}")
        if not os.path.isdir(path):
            raise MissingInputError(f"llm judge model path {path}: no such directory")
        self.path, self.backend, self.batch_size = path, backend, batch_size
        self.both_orders, self.use_question, self.max_length = both_orders, use_question, max_length
        self.id = (
            f"llm:{os.path.abspath(path)}|{backend}|both={int(both_orders)}|q={int(use_question)}"
        )
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.yes_id, self.no_id = label_token_ids(self.tokenizer)
        if backend == "transformers":
            import torch
            from transformers import AutoModelForCausalLM

            self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
            if dtype:
                torch_dtype = getattr(torch, dtype)
            elif self.device.startswith("cuda") and torch.cuda.is_bf16_supported():
                torch_dtype = torch.bfloat16
            else:
                torch_dtype = torch.float32
            adapter = os.path.join(path, "adapter_config.json")
            if os.path.isfile(
                adapter
            ):  # a LoRA checkpoint (deepprune train, finetuning_type: lora)
                from peft import PeftModel

                with open(adapter, encoding="utf-8") as fh:
                    base = json.load(fh)["base_model_name_or_path"]
                if not os.path.isdir(base):
                    raise MissingInputError(f"{adapter}: base model {base}: no such directory")
                model = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype)
                model = PeftModel.from_pretrained(model, path).merge_and_unload()
            else:
                model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
            self.model = model.to(self.device).eval()
        else:
            try:
                from vllm import LLM
            except ImportError:
                raise ConfigError(
                    "backend=vllm needs the vllm extra (GPU only): pip install -e '.[vllm]'"
                ) from None
            self.llm = LLM(model=path)

    @property
    def cache_id(self) -> str:  # the weights' content, not the folder: retraining re-keys
        if not hasattr(self, "_weights"):
            self._weights = self.weights_digest(self.path)
        return f"{self.id}|w={self._weights}"

    def input_tokens(self, pair: JudgePair) -> int:
        n = len(self.tokenizer(render_prompt(self.tokenizer, pair, self.use_question))["input_ids"])
        return 2 * n if self.both_orders else n

    def cost(self, texts, counts=None):
        """The prompt around the two prefixes, each prefix in this model's tokens, x2 for both orders."""
        per_pair = self.input_tokens(JudgePair("", "")) // (2 if self.both_orders else 1)
        per_prefix = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        return JudgeCost(
            np.asarray(per_prefix, dtype=np.int64), per_pair, 2 if self.both_orders else 1
        )

    def _score_transformers(self, prompts: list[str]) -> np.ndarray:
        import torch

        out = []
        for start in range(0, len(prompts), self.batch_size):
            batch = prompts[start : start + self.batch_size]
            enc = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True,
                                 max_length=self.max_length, add_special_tokens=False).to(self.device)  # fmt: skip
            with torch.no_grad():
                logits = (
                    self.model(**enc, logits_to_keep=1)
                    .logits[:, -1, :]
                    .float()  # last position only
                )  # (batch, vocab): next token after the prompt
            two = torch.stack([logits[:, self.yes_id], logits[:, self.no_id]], dim=1)
            out.append(torch.softmax(two, dim=1)[:, 0].cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def _score_vllm(self, prompts: list[str]) -> np.ndarray:
        from vllm import SamplingParams

        params = SamplingParams(**VLLM_SAMPLING)
        res = self.llm.generate(prompts, params, use_tqdm=False)
        scores = []
        for r in res:
            lp = r.outputs[0].logprobs[0]  # {token_id: Logprob}
            y = lp.get(self.yes_id)
            n = lp.get(self.no_id)
            scores.append(yes_probability(y.logprob if y else None, n.logprob if n else None))
        return np.array(scores)

    def score(self, pairs):
        prompts = [render_prompt(self.tokenizer, p, self.use_question) for p in pairs]
        run = self._score_transformers if self.backend == "transformers" else self._score_vllm
        s = run(prompts)
        if self.both_orders:
            swapped = [JudgePair(p.prefix_b, p.prefix_a, p.question) for p in pairs]
            s = (
                s + run([render_prompt(self.tokenizer, p, self.use_question) for p in swapped])
            ) / 2
        return s
