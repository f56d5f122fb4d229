"""Token-level focal loss for causal-LM SFT (Lin et al., ICCV 2017), torch only.

    L = - sum_t alpha_t (1 - p_t)^gamma log p_t / num_items_in_batch

over response positions only (labels != -100, selected *before* the softmax, so the
vocabulary softmax runs on one or two judge-answer tokens per example, not the whole
prompt), in fp32. Dividing the sum by ``num_items_in_batch`` (label tokens across all
gradient-accumulation micro-batches) is required: the transformers Trainer does not
divide by the accumulation steps when a custom loss is set. gamma = 0 and alpha = 1
give exactly the built-in cross-entropy.

alpha is a scalar, or class-aware: a vocabulary-sized weight vector built once from
per-label-word weights (``{"yes": 0.25, "no": 0.75}``); a scalar alone does nothing
against class imbalance. ``detach=True`` stops the gradient through (1 - p_t)^gamma
(as in the unmerged LLaMA-Factory PR #9077); ``False`` differentiates it (Lin et al.).
"""

from __future__ import annotations

from dataclasses import dataclass

from deepprune.errors import ConfigError

IGNORE_INDEX = -100


def focal_loss(
    logits,
    labels,
    num_items_in_batch=None,
    gamma: float = 2.0,
    alpha: float = 1.0,
    alpha_vec=None,
    detach: bool = False,
    shift: bool = True,
):
    """Focal loss of causal-LM logits against labels.

    Args:
        logits: (batch, seq, vocab) model outputs.
        labels: (batch, seq) token ids, -100 where no loss applies.
        num_items_in_batch: label tokens over the whole (accumulated) batch; defaults to
            the count in this micro-batch.
        gamma: focusing parameter (0: cross-entropy).
        alpha: scalar weight, used for every token without a class-aware weight.
        alpha_vec: optional (vocab,) tensor of per-token weights (overrides ``alpha``).
        detach: stop the gradient through the modulating factor.
        shift: labels are aligned with inputs (Hugging Face convention) and need shifting.

    Returns:
        A scalar tensor.

    Example:
        >>> import torch
        >>> x, y = torch.zeros(1, 3, 4), torch.tensor([[-100, 1, 2]])
        >>> round(float(focal_loss(x, y, gamma=0.0)), 4)  # log(4)
        1.3863
    """
    import torch

    if shift:
        logits, labels = logits[..., :-1, :], labels[..., 1:]
    mask = labels != IGNORE_INDEX
    target = labels[mask]
    if target.numel() == 0:
        return logits.sum() * 0.0
    sel = logits[mask].float()  # (M, vocab): response positions only
    logp = torch.log_softmax(sel, dim=-1).gather(1, target[:, None]).squeeze(1)
    loss = -logp
    if gamma:
        mod = (1.0 - logp.exp()).clamp_min(0.0) ** gamma
        loss = loss * (mod.detach() if detach else mod)
    if alpha_vec is not None:
        loss = loss * alpha_vec.to(loss.device, torch.float32)[target]
    elif alpha != 1.0:
        loss = loss * alpha
    denom = num_items_in_batch if num_items_in_batch is not None else mask.sum()
    if torch.is_tensor(denom):
        denom = denom.to(loss.device)
    return loss.sum() / denom


def alpha_vector(
    tokenizer, label_weights: dict[str, float], default: float = 1.0, vocab_size: int | None = None
):
    """A (vocab,) weight vector: ``default`` everywhere, each label word's tokens set to its weight."""
    import torch

    n = vocab_size or len(tokenizer)
    vec = torch.full((n,), float(default))
    for word, w in label_weights.items():
        ids = tokenizer(word, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ConfigError(f"focal_alpha_labels: {word!r} encodes to no tokens")
        vec[ids] = float(w)
    return vec


@dataclass
class FocalLoss:
    """A ``compute_loss_func`` for the transformers Trainer."""

    gamma: float = 2.0
    alpha: float = 1.0
    alpha_vec: object = None
    detach: bool = False

    def __call__(self, outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
        return focal_loss(
            logits, labels, num_items_in_batch, self.gamma, self.alpha, self.alpha_vec, self.detach
        )
