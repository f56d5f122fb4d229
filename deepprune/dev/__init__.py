"""Developer helpers that build local models for tests and demos (a tiny Qwen3, Gemma from its GGUF)."""
