"""The README's "which method" section quotes only numbers that a committed generated table shows."""

import re

import pytest

from tests.conftest import ROOT

TABLES = ("Online/COMPARISON.md", "Online/HEADROOM.md", "Online/TRANSFER.md")
# a published number: a percentage, a ratio, a signed point difference with its interval, or a
# token count with a thousands separator (plain small integers such as "k = 2" are settings)
NUMBER = re.compile(
    r"[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\]|\d+\.\d+×|\d+\.\d%|\d{1,3}(?:,\d{3})+"
)


def section(text: str, title: str) -> str:
    start = text.index(title)
    return text[start : text.index("\n## ", start + 1)]


def test_the_which_method_section_quotes_only_committed_numbers():
    tables = "\n".join((ROOT / t).read_text(encoding="utf-8") for t in TABLES)
    text = section(
        (ROOT / "README.md").read_text(encoding="utf-8"), "## Which method should I use?"
    )
    quoted = NUMBER.findall(text)
    assert len(quoted) > 25
    missing = [n for n in quoted if n not in tables]
    assert not missing, f"README numbers not in {TABLES}: {missing}"


def test_the_offline_readme_counts_the_aimo3_rows_below_chance_as_the_manifest_does():
    import json

    manifest = json.loads((ROOT / "Offline" / "crossencoder_manifest.json").read_text())

    def rows(x):
        if isinstance(x, dict):
            if "auroc" in x and "aimo3" in str(x.get("pool", "")):
                yield x
            for v in x.values():
                yield from rows(v)
        elif isinstance(x, list):
            for v in x:
                yield from rows(v)

    aimo = list(rows(manifest))
    below = [r["auroc"] for r in aimo if r["auroc"] < 0.5]
    text = " ".join((ROOT / "Offline" / "README.md").read_text(encoding="utf-8").split())
    assert f"{len(below)} of the {len(aimo)} AIMO3 rows of trained cells lie below 0.5" in text
    assert f"({min(below):.3f}-{max(below):.3f})" in text
    above = sorted(round(r["auroc"], 3) for r in aimo if r["auroc"] >= 0.5)
    assert all(f"{a:.3f}" in text for a in above) and len(above) == 2


def test_the_online_readme_quotes_results_and_comparison_as_they_are():
    """The TF-IDF claim carries the 32-repeat paired interval, and both cons@N figures are the tables'."""
    text = " ".join((ROOT / "Online" / "README.md").read_text(encoding="utf-8").split())
    comparison = (ROOT / "Online" / "COMPARISON.md").read_text(encoding="utf-8")
    results = (ROOT / "Online" / "RESULTS.md").read_text(encoding="utf-8")
    row = next(
        ln
        for ln in comparison.splitlines()
        if ln.startswith("| deepprune[lexical:tfidf](tau=0.5) | 62.4%")
    )
    assert (
        row.split(" | ")[-1].startswith("+1.9 [-3.2, +8.5]")
        and "+1.9 [-3.2, +8.5] points, which includes 0" in text
    )
    assert (
        "cons@N: 66.0% at 113,630" in comparison and "| cons@N | 64.5 ± 1.3 | 113,630 |" in results
    )
    assert "reads 64.5% here and 66.0% in `COMPARISON.md`" in text


def test_cons_n_reads_64_5_over_8_repeats_and_66_0_over_32_the_same_seeded_ties():
    import numpy as np

    from deepprune.replay.harness import OnlineConfig, load_questions, run
    from deepprune.replay.methods import ConsN
    from tests.conftest import shared_pool

    pool = shared_pool("qwen3-8b-mmlu-think-n50.jsonl")
    cfg = OnlineConfig(trunc="words:25", repeats=32)
    per_repeat = np.nanmean(run(ConsN(), load_questions(pool, cfg), cfg).correct, axis=0)
    assert (
        round(100 * per_repeat.mean(), 1) == 66.0 and round(100 * per_repeat[:8].mean(), 1) == 64.5
    )


def readme_commands(text: str) -> list[str]:
    """Every ``deepprune ...`` command of the README's indented code blocks, continuation lines joined."""
    cmds, cur = [], None
    for line in text.splitlines():
        body = line[4:] if line.startswith("    ") else None
        if cur is not None:
            cur += " " + (body or "").strip()
        elif body is not None and body.lstrip().startswith("deepprune "):
            cur = body.strip()
        if cur is not None and not cur.endswith("\\"):
            cmds.append(cur.split("  #")[0].split(" &")[0].strip())
            cur = None
        elif cur is not None:
            cur = cur[:-1].rstrip()
    return cmds


@pytest.mark.slow  # every README command parsed by the real CLI: ~15 s (CI runs it)
def test_every_readme_command_is_valid_as_written():
    """Each `deepprune` command in the README parses, and its settings pass every check (resolved
    with --print-config, which stops before any work): a flag renamed or a setting that would be
    refused (a cut past --max-tokens) fails here."""
    import shlex
    import subprocess
    import sys

    cmds = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(cmds) > 40
    bad = []
    for cmd in cmds:
        if "..." in cmd:
            continue  # a fragment of the command above it
        try:
            argv = shlex.split(cmd.replace("$(", "").replace(")", ""))[1:]
        except ValueError:  # a quoted prompt that spans lines: its first line only here
            continue
        if argv[:1] in (["serve"], ["train"], ["--version"]) or "--help" in argv:
            continue  # starts a server / LLaMA-Factory's own YAML (tested in test_train) / prints and exits
        argv = [
            a.replace("@my_prompt.txt", "@DeepPrune_data/prompts/fewshot_math.txt") for a in argv
        ]  # the user's
        r = subprocess.run([sys.executable, "-m", "deepprune.cli", *argv, "--print-config"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
        if r.returncode != 0:
            bad.append(
                f"{cmd}\n  -> {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}"
            )
    assert not bad, "\n".join(bad)


# the server's flags: replaced by a replay of a real pool in the scaled-down runs
SERVER_FLAGS = {"--problems", "--base-url", "--model", "--api", "--api-key", "--abort-url", "--metrics-url",
                "--prompt", "--out", "--concurrent-problems"}  # fmt: skip


def test_every_readme_solve_command_scaled_down_shows_a_saving(tmp_path):
    """Each complete `deepprune solve` command of the README, run as written but on 3 questions of a
    real pool replayed (--backend replay, the server's flags dropped): the Qwen3-8B AIME24 pool's
    traces and answer probes for the probe judge, the Qwen3-8B MMLU pool's text for a text judge.
    Every method other than cons@N spends fewer net tokens than cons@N on the same problems, so no
    README example prunes nothing (a command running cons@N alone, the router's, only runs)."""
    import json
    import shlex

    from deepprune.cli import main
    from tests.conftest import shared_pool

    probes, text = (
        shared_pool("probe-qwen3-8b-aime24-n128.jsonl"),
        shared_pool("qwen3-8b-mmlu-think-n50.jsonl"),
    )
    # the commands for the local 270M server (--model gemma3-270m: its few-shot prompt, its probe
    # spacing) run against that server, not these pools (test_the_readmes_cpu_solve_command_runs)
    cmds = [c for c in readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
            if c.startswith("deepprune solve ") and "..." not in c and "gemma3-270m" not in c]  # fmt: skip
    assert len(cmds) >= 3
    for k, cmd in enumerate(cmds):
        argv, keep = shlex.split(cmd)[1:], []
        while argv:
            a = argv.pop(0)
            if a in SERVER_FLAGS:
                argv.pop(0)  # and its value
            else:
                keep.append(a)
        out = tmp_path / f"run{k}"
        judge = keep[keep.index("--judge") + 1] if "--judge" in keep else "probe"
        pool = probes if judge.startswith("probe") else text
        assert main([*keep, "--backend", "replay", "--pool", str(pool), "--limit", "3", "--deterministic",
                     "--no-progress", "--json", "--out", str(out)]) == 0, cmd  # fmt: skip
        rows = {r["method"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
        cons_n = rows.pop("cons@N")
        for name, r in rows.items():
            assert r["net_tokens"] < cons_n["net_tokens"], (
                cmd,
                name,
                r["net_tokens"],
                cons_n["net_tokens"],
            )
