"""A cross-encoder judge at inference time: a small encoder reads both prefixes in one input and
classifies "same final answer?". Training lives in the judge lab
(:mod:`deepprune.judgelab.crossencoder_training`); this module loads and scores a trained directory.

    deepprune judge eval PAIRS.jsonl --judge crossencoder:runs/ce-judge

A directory is finished when its ``deepprune_crossencoder.json`` manifest exists (written last,
atomically, by training); ``joint="last"`` directories are late-interaction judges (per-trace
states cached, one cheap joint step per pair).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deepprune.errors import ConfigError, MissingInputError
from deepprune.judges.base import Judge, JudgePair, read_finished

MANIFEST = "deepprune_crossencoder.json"


def truncate_layers(model, n: int | None) -> None:
    """Keep the encoder's first ``n`` transformer layers (saved configs then load as is)."""
    if n is None:
        return
    enc = model.base_model.encoder
    if n > len(enc.layer):
        raise ConfigError(f"layers={n}: the base model has only {len(enc.layer)} layers")
    enc.layer = enc.layer[:n]
    model.config.num_hidden_layers = n


def base_path(base: str | None) -> str:
    from deepprune.judges.embedding import default_sbert_path

    path = base or default_sbert_path()
    if not os.path.isdir(path):
        raise MissingInputError(f"cross-encoder base model {path}: no such directory")
    return path


def encode_pairs(tok, pairs: Sequence[JudgePair], max_length: int, keep: str = "start"):
    """Tokenise pairs as one input each. ``keep="end"``: each prefix keeps its *last* tokens
    (half the budget each), i.e. the latest reasoning; ``"start"``: standard truncation."""
    if keep == "start":
        return tok([p.prefix_a for p in pairs], [p.prefix_b for p in pairs], truncation="longest_first",
                   max_length=max_length, padding=True, return_tensors="pt")  # fmt: skip
    if tok.cls_token_id is None or tok.sep_token_id is None:
        raise ConfigError("keep=end needs a BERT-style tokenizer ([CLS] a [SEP] b [SEP])")
    half = (max_length - 3) // 2
    a_ids = tok([p.prefix_a for p in pairs], add_special_tokens=False)["input_ids"]
    b_ids = tok([p.prefix_b for p in pairs], add_special_tokens=False)["input_ids"]
    feats = []
    for a, b in zip(a_ids, b_ids, strict=True):
        a, b = a[-half:] if half else [], b[-half:] if half else []
        ids = [
            tok.cls_token_id,
            *a,
            tok.sep_token_id,
            *b,
            tok.sep_token_id,
        ]  # BERT-style pair input
        feats.append({"input_ids": ids, "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1)})
    return tok.pad(feats, padding=True, return_tensors="pt")


# ---- late interaction (joint="last"): the last layer reads both prefixes ----------------

LATE_HEAD = "late_head.pt"


def late_parts(path: str, layers: int | None = None, head_path: Path | None = None):
    """(encoder, pair head) of a late-interaction cross-encoder."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the sentence encoder's unused pooler is not a problem
    try:
        bert = AutoModel.from_pretrained(path, add_pooling_layer=False)
    finally:
        hf_logging.set_verbosity(level)
    truncate_layers(bert, layers)
    head = torch.nn.Linear(3 * bert.config.hidden_size, 2)
    if head_path is not None:
        head.load_state_dict(torch.load(head_path, weights_only=True))
    return bert, head


def _late_traces(bert, tok, texts: Sequence[str], max_tokens: int, keep: str):
    """Each prefix alone through all layers but the last: its [CLS] state, and the last
    layer's keys and values of its tokens (B, heads, T, head_dim) with the token mask."""
    side = "left" if keep == "end" else "right"  # keep=end: a long prefix keeps its last tokens
    old = tok.truncation_side
    tok.truncation_side = side
    try:
        enc = tok(list(texts), truncation=True, max_length=max_tokens, padding="max_length",
                  return_tensors="pt").to(bert.device)  # fmt: skip
    finally:
        tok.truncation_side = old
    layers = bert.encoder.layer
    bert.encoder.layer = layers[:-1]
    try:
        h = bert(**enc).last_hidden_state
    finally:
        bert.encoder.layer = layers
    att = layers[-1].attention.self
    shape = (*h.shape[:2], att.num_attention_heads, att.attention_head_size)
    k = att.key(h).view(shape).transpose(1, 2)
    v = att.value(h).view(shape).transpose(1, 2)
    return h[:, 0], k, v, enc["attention_mask"].bool()


def _late_cls(bert, cls, k, v, mask, a, b):
    """The last layer's output at the two [CLS] tokens of pairs (a[n], b[n]), each attending
    over the tokens of both prefixes (the same computation as that BERT layer over the
    concatenated states, for these two positions only)."""
    import torch

    layer = bert.encoder.layer[-1]
    att, ao, out = layer.attention.self, layer.attention.output, layer.output
    h0 = torch.stack([cls[a], cls[b]], 1)  # (P, 2, d)
    n, d = h0.shape[0], h0.shape[2]
    q = att.query(h0).view(n, 2, att.num_attention_heads, -1).transpose(1, 2)
    kk, vv = torch.cat([k[a], k[b]], 2), torch.cat([v[a], v[b]], 2)
    m = torch.cat([mask[a], mask[b]], 1)[:, None, None, :]
    w = (q @ kk.transpose(-1, -2) * att.scaling).masked_fill(~m, float("-inf"))
    ctx = (att.dropout(w.softmax(-1)) @ vv).transpose(1, 2).reshape(n, 2, d)
    x = ao.LayerNorm(ao.dropout(ao.dense(ctx)) + h0)
    x = out.LayerNorm(out.dropout(out.dense(layer.intermediate(x))) + x)
    return x[:, 0], x[:, 1]


def _late_joint(bert, head, cls, k, v, mask, a, b):
    """Logits of pairs (a[n], b[n]); the head reads the two [CLS] outputs symmetrically."""
    import torch

    ca, cb = _late_cls(bert, cls, k, v, mask, a, b)
    return head(torch.cat([ca + cb, ca * cb, (ca - cb).abs()], -1))


def late_logits(bert, head, tok, pairs: Sequence[JudgePair], max_length: int, keep: str):
    import torch

    n = len(pairs)
    cls, k, v, mask = _late_traces(bert, tok, [p.prefix_a for p in pairs] + [p.prefix_b for p in pairs],
                                   max_length // 2, keep)  # fmt: skip
    idx = torch.arange(n)
    return _late_joint(bert, head, cls, k, v, mask, idx, idx + n)


class CrossEncoderJudge(Judge):
    """P(same answer) = softmax(logits)[1] of a trained cross-encoder directory."""

    def __init__(self, path: str, batch_size: int = 32, device: str | None = None,
                 max_length: int | None = None, both_orders: bool = False, int8: bool = False):  # fmt: skip
        man, self._weights = read_finished(path, MANIFEST, "cross-encoder judge")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.max_length = max_length or man["config"]["max_length"]
        self.keep = man["config"].get("keep", "start")
        self.tok = AutoTokenizer.from_pretrained(path)
        self.joint = man["config"].get("joint", "all")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # late interaction: per-trace states cached, then a cheap joint step per pair
        if self.joint == "last":
            self.model, self.head = late_parts(path, None, Path(path) / LATE_HEAD)
            self.head.eval().to(self.device)
            self._traces: dict[str, tuple] = {}
        else:
            self.model = AutoModelForSequenceClassification.from_pretrained(path)
        self.model.eval().to(self.device)
        if int8:  # dynamic int8 Linear layers: a CPU speed-up at a small numeric cost
            if self.device != "cpu":
                raise ConfigError("crossencoder int8=1 is a CPU option (dynamic quantization)")
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model = torch.ao.quantization.quantize_dynamic(
                    self.model, {torch.nn.Linear}, dtype=torch.qint8
                )
        self.batch_size, self.both_orders = batch_size, both_orders
        self.id = f"crossencoder:{os.path.abspath(path)}|both={int(both_orders)}|int8={int(int8)}"

    @property
    def cache_id(self) -> str:  # the weights' hashes (manifest), not the folder: retraining re-keys
        return f"{self.id}|w={self._weights}"

    _CACHE_TRACES = 4096  # joint="last": per-trace states kept (one question's worth and more)

    def _late_states(self, texts: Sequence[str]):
        import torch

        todo = [t for t in dict.fromkeys(texts) if t not in self._traces]
        if len(self._traces) + len(todo) > self._CACHE_TRACES:
            self._traces.clear()
            todo = list(dict.fromkeys(texts))
        with torch.inference_mode():
            for k in range(0, len(todo), self.batch_size):
                chunk = todo[k : k + self.batch_size]
                rows = _late_traces(self.model, self.tok, chunk, self.max_length // 2, self.keep)
                for n, t in enumerate(chunk):
                    self._traces[t] = tuple(r[n] for r in rows)
        return [torch.stack(c) for c in zip(*(self._traces[t] for t in texts), strict=True)]

    def _late_score(self, texts: Sequence[str], i, j) -> np.ndarray:
        import torch

        if len(i) == 0:
            return np.zeros(0)
        used = sorted(set(np.asarray(i).tolist()) | set(np.asarray(j).tolist()))
        pos = np.full(max(used) + 1, -1)
        pos[used] = np.arange(len(used))
        cls, k, v, mask = self._late_states([texts[u] for u in used])
        a, b = torch.from_numpy(pos[np.asarray(i)]), torch.from_numpy(pos[np.asarray(j)])
        out = []
        with torch.inference_mode():
            for s in range(0, len(a), 1024):
                logits = _late_joint(
                    self.model, self.head, cls, k, v, mask, a[s : s + 1024], b[s : s + 1024]
                )
                out.append(torch.softmax(logits.float(), -1)[:, 1].cpu().numpy())
        return np.concatenate(out)

    def score_indexed(self, texts, i, j, question=None):
        if self.joint == "last":
            return self._late_score(texts, i, j)
        return super().score_indexed(texts, i, j, question)

    def _score(self, pairs):
        import torch

        if self.joint == "last":
            texts = list(dict.fromkeys([p.prefix_a for p in pairs] + [p.prefix_b for p in pairs]))
            at = {t: n for n, t in enumerate(texts)}
            return self._late_score(
                texts, [at[p.prefix_a] for p in pairs], [at[p.prefix_b] for p in pairs]
            )
        out = []
        with torch.inference_mode():
            for k in range(0, len(pairs), self.batch_size):
                enc = encode_pairs(
                    self.tok, pairs[k : k + self.batch_size], self.max_length, self.keep
                ).to(self.device)
                out.append(torch.softmax(self.model(**enc).logits.float(), -1)[:, 1].cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def score(self, pairs):
        pairs = list(pairs)
        s = self._score(pairs)
        if self.both_orders and self.joint == "all":  # joint="last" is symmetric already
            s = (
                s + self._score([JudgePair(p.prefix_b, p.prefix_a, p.question) for p in pairs])
            ) / 2
        return s
