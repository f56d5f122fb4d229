"""A tiny random Qwen3-architecture model and a locally trained tokenizer, for tests and CPU recipes.

    deepprune tiny-model --out runs/tiny-qwen3

Nothing can be downloaded from a model hub on these machines, so the training path is
tested on a model built here: a byte-level BPE tokenizer trained with ``tokenizers`` on
judge prompts built from the demo pool (plus a Qwen-style chat template), and a
randomly initialised ``Qwen3ForCausalLM`` of ~0.2M parameters. Sizes are our choice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from deepprune.synth import DEMO_POOL

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _corpus(pool: str | os.PathLike) -> list[str]:
    from deepprune.judges.prompt import NEGATIVE, POSITIVE, judge_prompt
    from deepprune.pools import read_pool

    texts = []
    for q in read_pool(pool):
        for t in q.traces:
            texts.append(t.text or "")
        instr, inp = judge_prompt(q.traces[0].text or "", q.traces[-1].text or "", q.question)
        texts += [instr, inp, "user assistant system", f"{POSITIVE} {NEGATIVE} " * 20]
    return texts


@dataclass
class TinyModelJob:
    """``deepprune tiny-model``: build a tiny random Qwen3 model + local tokenizer (tests, CPU recipes)."""

    out: str = "runs/tiny-qwen3"  # output directory
    pool: str | None = None  # pool whose text trains the tokenizer (default: the demo pool)

    def run(self) -> list[str]:
        return [
            f"wrote a tiny random Qwen3 model and tokenizer to {build_tiny_model(self.out, self.pool)}"
        ]


def build_tiny_model(out: str | os.PathLike, pool: str | os.PathLike | None = None, vocab_size: int = 1024,
                     hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:  # fmt: skip
    """Write a tokenizer and a random tiny Qwen3 model to ``out``; returns the path."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    pool = pool or DEMO_POOL
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tok.train_from_iterator(_corpus(pool), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None)  # fmt: skip
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    cfg = Qwen3Config(
        vocab_size=len(fast), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, head_dim=hidden // 4, max_position_embeddings=4096,
        tie_word_embeddings=True, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, bos_token_id=None,
    )  # fmt: skip
    model = Qwen3ForCausalLM(cfg)
    model.save_pretrained(out)
    return out
