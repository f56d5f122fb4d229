"""In-process vLLM: ``vllm.v1.engine.async_llm.AsyncLLM`` (DELTA outputs, ``abort``, prefix caching).

An optional extra with CUDA-only wheels (``pip install -e '.[vllm]'`` on a GPU machine); it is
imported only when this backend is built. :func:`sampling_kwargs` and :func:`read_output`
hold everything that builds requests and reads outputs, and are tested without vllm.
"""

from __future__ import annotations

from deepprune.engine.backends.base import Backend, Delta, Finish, Request
from deepprune.errors import ConfigError


def sampling_kwargs(req: Request) -> dict:
    """``SamplingParams`` keyword arguments of one trace (``output_kind`` is set by the backend)."""
    kw = {"n": 1, "seed": req.seed, "max_tokens": req.max_tokens, "temperature": req.temperature,
          "top_p": req.top_p}  # fmt: skip
    if req.logprobs:
        kw["logprobs"] = req.logprobs
    if req.stop:
        kw["stop"] = list(req.stop)
    return kw


def read_output(out, k: int) -> tuple[Delta, str | None, int | None]:
    """(delta, finish_reason, prompt tokens) of one DELTA ``RequestOutput``."""
    comp = out.outputs[0]
    top = None
    if k and comp.logprobs is not None:
        top = [
            sorted((lp.logprob for lp in pos.values()), reverse=True)[:k] for pos in comp.logprobs
        ]
    prompt = (
        len(out.prompt_token_ids) if getattr(out, "prompt_token_ids", None) is not None else None
    )
    return Delta(comp.text, len(comp.token_ids), top), comp.finish_reason, prompt


class VLLMBackend(Backend):
    """Generates with an in-process vLLM engine on the local GPU(s)."""

    name = "vllm"

    def __init__(self, model: str, **engine_args):
        try:
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError:
            raise ConfigError(
                "the vllm backend needs the vllm extra (GPU only): pip install -e '.[vllm]'"
            ) from None
        args = AsyncEngineArgs(model=model, enable_prefix_caching=True, **engine_args)
        self.engine = AsyncLLM.from_engine_args(args)

    async def stream(self, req: Request):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        params = SamplingParams(output_kind=RequestOutputKind.DELTA, **sampling_kwargs(req))
        tokens, prompt, reason, done = 0, None, None, False
        try:
            async for out in self.engine.generate(req.text, params, req.request_id):
                delta, reason, p = read_output(out, req.logprobs)
                prompt = p if p is not None else prompt
                tokens += delta.tokens
                if delta.tokens or delta.text:
                    yield delta
            done = True
        finally:
            if not done:
                await self.engine.abort(req.request_id)
        yield Finish(tokens, prompt, reason != "length", "usage")  # the engine's own token ids

    async def close(self) -> None:
        self.engine.shutdown()
