"""The fault server's text (pure): what a completion says, a probe's reply, and a stop's cut."""

from __future__ import annotations

FILLER = ("so", "we", "add", "the", "two", "numbers", "and", "check", "it")


def tokens_for(prompt: str, seed: int | None) -> list[str]:
    """The text of one completion, a token per item: filler words, then the answer (pure)."""
    n = 6 + (seed or 0) % 5
    answer = "42" if (seed or 0) % 3 else "7"
    return [f" {FILLER[i % len(FILLER)]}" for i in range(n)] + [
        " The",
        " answer",
        " is",
        f" {answer}.",
    ]


# an answer probe's reply (a prompt that ends inside ``\\boxed{``): a nested answer, then more text
PROBE_REPLY = (" \\frac{", "1", "}{", "2", "}}", " so", " it", " is", " done", ".")


def reply_tokens(text: str, seed: int | None) -> list[str]:
    """The tokens that continue ``text`` (pure): a probe (``text`` inside an open ``\\boxed{``)
    greedily continues :data:`PROBE_REPLY` from wherever ``text`` left it; anything else is
    :func:`tokens_for`."""
    _, cue, said = text.rpartition("\\boxed{")
    whole = "".join(PROBE_REPLY)
    if not cue or not whole.startswith(said) or len(said) == len(whole):
        return tokens_for(text, seed)
    out, at = [], 0
    for t in PROBE_REPLY:  # the reply's tokens past what was said (the first one cut where it ends)
        if at + len(t) > len(said):
            out.append(t[max(len(said) - at, 0) :])
        at += len(t)
    return out


def apply_stop(toks: list[str], stop) -> tuple[list[str], int, str | None]:
    """(text tokens, tokens generated, the stop string matched) of ``toks`` under ``stop`` (pure):
    the text ends before the first stop string, which is not returned; the token that completed
    it was generated, and counts, as a server counts it."""
    stops = [x for x in ([stop] if isinstance(stop, str) else list(stop or [])) if x]
    text = ""
    for i, t in enumerate(toks):
        text += t
        found = [(text.find(x), x) for x in stops if x in text]
        if found:
            cut, x = min(found)
            out, at = [], 0
            for u in toks[: i + 1]:
                if at < cut:
                    out.append(u[: cut - at])
                at += len(u)
            return out, i + 1, x
    return toks, len(toks), None
