"""deepprune.artifacts by hand: every writer, reader and guard that stands between a command and
a file (atomic writes, JSONL errors, generated sections, the output-overwrites-input check)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from deepprune import artifacts
from deepprune.artifacts import (
    Output,
    atomic_write,
    check_outputs,
    check_section,
    config_hash,
    file_sha256,
    provenance,
    read_jsonl,
    refuse_special,
    replace_dir,
    section_markers,
    writable_dir,
    write_generated,
)
from deepprune.errors import ConfigError, DeepPruneError, MissingInputError


def test_umask_is_read_without_changing_it():
    old = os.umask(0o027)
    try:
        assert artifacts.umask() == 0o027
        assert artifacts.umask() == 0o027  # reading it twice leaves it as it was
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_atomic_write_writes_text_and_bytes_with_the_users_permissions(tmp_path, mask):
    old = os.umask(mask)
    try:
        atomic_write(tmp_path / "sub" / "a.txt", "héllo")
        atomic_write(tmp_path / "b.bin", b"\x00\x01")
    finally:
        os.umask(old)
    assert (tmp_path / "sub" / "a.txt").read_bytes() == "héllo".encode()
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "sub"]  # no temporary left


def test_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    (tmp_path / "a.txt").write_text("old")

    class Boom:
        pass

    with pytest.raises(TypeError):
        atomic_write(tmp_path / "a.txt", Boom())  # neither str nor bytes: fails inside the write
    assert (tmp_path / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_refuse_special_names_the_kind_and_the_flag(tmp_path):
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as e:
        refuse_special(fifo, "out")
    assert (
        str(e.value)
        == f"--out {fifo}: is a FIFO, not a file; outputs are written only to regular files"
    )
    with pytest.raises(ConfigError) as e:
        refuse_special("/dev/null")
    assert (
        str(e.value)
        == "/dev/null: is a device, not a file; outputs are written only to regular files"
    )
    import socket

    sock_path = tmp_path / "s"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(sock_path))
        with pytest.raises(ConfigError, match=r"is a socket, not a file"):
            refuse_special(sock_path)
    finally:
        s.close()
    refuse_special(tmp_path)  # a directory, a file, nothing: fine
    (tmp_path / "x").write_text("")
    refuse_special(tmp_path / "x")
    refuse_special(tmp_path / "missing")
    with pytest.raises(ConfigError):
        atomic_write("/dev/null", "x")


def test_replace_dir_swaps_whole_directories_and_leaves_no_old_copy(tmp_path):
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a").write_text("1")
    replace_dir(tmp_path / "new", tmp_path / "d")
    assert (tmp_path / "d" / "a").read_text() == "1"
    (tmp_path / "new2").mkdir()
    (tmp_path / "new2" / "b").write_text("2")
    (tmp_path / "d.old").mkdir()  # a stale copy from a crash: removed first
    (tmp_path / "d.old" / "junk").write_text("")
    replace_dir(tmp_path / "new2", tmp_path / "d")
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_read_jsonl_numbers_lines_and_reads_gzip(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"a": 1}\n\n  \n[2]\n')
    assert read_jsonl(p) == [(1, {"a": 1}), (4, [2])]
    g = tmp_path / "a.jsonl.gz"
    g.write_bytes(gzip.compress(b'{"a": 1}\n'))
    assert read_jsonl(g) == [(1, {"a": 1})]


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"a": 1}\n{"a": \n', ":2: invalid JSON (Expecting value)"),
        (b'{"a": NaN}\n', ":1: invalid JSON (NaN is not valid JSON (a number must be finite))"),
        (
            b'{"a": -Infinity}\n',
            ":1: invalid JSON (-Infinity is not valid JSON (a number must be finite))",
        ),
        (b"1\n\xff\n", ":2: not UTF-8 text (invalid start byte)"),
        (b"\n \n", ": empty pool"),
        (b"\x1f\x8bnot gzip", ": a damaged gzip file ("),
        (b"9" * 5000 + b"\n", ":1: JSON this reader refuses (ValueError: "),
        (b"[" * 100_000 + b"]" * 100_000 + b"\n", ":1: JSON this reader refuses (RecursionError: "),
    ],
)
def test_read_jsonl_errors_name_the_file_and_line(tmp_path, content, message):
    p = tmp_path / "p.jsonl"
    p.write_bytes(content)
    with pytest.raises(ConfigError) as e:
        read_jsonl(p, "pool")
    assert str(e.value).startswith(f"{p}{message}"), str(e.value)
    assert "\n" not in str(e.value)


def test_read_jsonl_refuses_a_directory_and_a_missing_file(tmp_path):
    with pytest.raises(MissingInputError) as e:
        read_jsonl(tmp_path, "pool")
    assert str(e.value) == f"{tmp_path}: is a directory, not a pool"
    with pytest.raises(MissingInputError) as e:
        read_jsonl(tmp_path / "no.jsonl")
    assert str(e.value) == f"{tmp_path / 'no.jsonl'}: no such file"


def test_config_hash_is_sha256_of_the_sorted_json_cut_to_16():
    c = {"b": 1, "a": [1, 2], "p": os}
    want = hashlib.sha256(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()[:16]
    assert config_hash(c) == want
    assert config_hash({"a": [1, 2], "b": 1, "p": os}) == want
    assert config_hash({"b": 2, "a": [1, 2], "p": os}) != want


def test_sections_are_checked_and_replaced_keeping_the_prose(tmp_path, monkeypatch):
    assert section_markers("t") == ("<!-- begin generated: t -->", "<!-- end generated: t -->")
    p = tmp_path / "r.md"
    p.write_text("intro\n<!-- begin generated: t -->\nold\n<!-- end generated: t -->\nend\n")
    assert check_section(p, "t") == p.read_text()
    monkeypatch.setattr(sys, "argv", ["python", "x"])
    write_generated(p, "new", "make t", section="t")
    assert p.read_text() == (
        "intro\n<!-- begin generated: t -->\n<!-- generated by: make t -->\n\nnew\n"
        "<!-- end generated: t -->\nend\n"
    )
    monkeypatch.setattr(sys, "argv", ["/usr/bin/deepprune", "compare", "--api-key", "sk-secret"])
    write_generated(tmp_path / "w.md", "body", "make t")
    text = (tmp_path / "w.md").read_text()
    assert text.startswith("<!-- generated by: deepprune compare --api-key ") and text.endswith(
        "-->\n\nbody\n"
    )
    assert "sk-secret" not in text
    monkeypatch.setattr(sys, "argv", [])
    write_generated(tmp_path / "e.md", "b", "fallback cmd")
    assert (tmp_path / "e.md").read_text() == "<!-- generated by: fallback cmd -->\n\nb\n"


@pytest.mark.parametrize(
    "text",
    [
        "no markers\n",
        "<!-- end generated: t -->\n<!-- begin generated: t -->\n",
        "<!-- begin generated: t -->\n",
    ],
)
def test_a_missing_or_reversed_section_is_one_line(tmp_path, text):
    p = tmp_path / "r.md"
    p.write_text(text)
    with pytest.raises(DeepPruneError) as e:
        check_section(p, "t")
    assert str(e.value).startswith(f"{p}: no section 't' (add the lines ")


def test_an_unreadable_section_file_is_one_line(tmp_path):
    with pytest.raises(DeepPruneError) as e:
        check_section(tmp_path / "none.md", "t")
    assert (
        str(e.value)
        == f"{tmp_path / 'none.md'}: cannot read the file for --section t: No such file or directory"
    )
    (tmp_path / "b.md").write_bytes(b"ok\n\xff")
    with pytest.raises(DeepPruneError) as e:
        check_section(tmp_path / "b.md", "t")
    assert str(e.value).startswith(
        f"{tmp_path / 'b.md'}: not UTF-8 text (invalid start byte at byte 3)"
    )


def test_output_checks_its_flags_before_the_run(tmp_path):
    with pytest.raises(ConfigError, match=r"^--section: an empty section name"):
        Output(markdown=str(tmp_path / "r.md"), section="  ")
    with pytest.raises(ConfigError, match=r"^--section needs --markdown FILE$"):
        Output(section="t")
    with pytest.raises(DeepPruneError, match="no such|cannot read"):
        Output(markdown=str(tmp_path / "r.md"), section="t")
    Output(markdown=str(tmp_path / "r.md"))  # no section: the file need not exist
    Output()


def test_output_emits_text_json_and_markdown(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["python"])
    out = Output(markdown=str(tmp_path / "r.md"))
    assert (
        out.emit([{"a": 1}, {"a": 2}], lambda r: f"A={r['a']}", "compare", footer=lambda r: "!")
        == 0
    )
    assert capsys.readouterr().out == "A=1!\n\nA=2!\n"
    assert (
        tmp_path / "r.md"
    ).read_text() == "<!-- generated by: deepprune compare -->\n\nA=1\n\nA=2\n"
    Output().emit([{"a": 1}], lambda r: "x", "c")
    assert capsys.readouterr().out == "x\n"
    Output(json=True).emit([{"a": 1}], lambda r: "x", "c")
    assert json.loads(capsys.readouterr().out) == {"a": 1}
    Output(json=True).emit([{"a": 1}, {"b": 2}], lambda r: "x", "c")
    assert json.loads(capsys.readouterr().out) == [{"a": 1}, {"b": 2}]


def test_writable_dir_probes_the_nearest_existing_directory(tmp_path):
    assert writable_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []  # the probe file is gone, nothing created
    (tmp_path / "f").write_text("")
    with pytest.raises(MissingInputError) as e:
        writable_dir(tmp_path / "f" / "x")
    assert str(e.value) == f"{tmp_path / 'f' / 'x'}: cannot write here ({tmp_path / 'f'} is a file)"
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(
                MissingInputError, match=r"cannot write here \(.*ro: Permission denied\)"
            ):
                writable_dir(ro / "x")
        finally:
            ro.chmod(0o700)


@dataclasses.dataclass
class _Inner:
    markdown: str = ""
    calib: str = ""


@dataclasses.dataclass
class _Job:
    pool: str = ""
    pools: list = dataclasses.field(default_factory=list)
    out: str = ""
    judge: str = ""
    prompt: str = ""
    answer_file: str = ""
    save_traces: str = ""
    inner: _Inner = dataclasses.field(default_factory=_Inner)


def test_check_outputs_refuses_an_output_on_an_input(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text("{}\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("")
    check_outputs(_Job(pool=str(pool), out=str(tmp_path / "out")))  # fine
    with pytest.raises(ConfigError) as e:
        check_outputs(_Job(pool=str(pool), out=str(pool)))
    assert str(e.value) == (f"--out {pool}: is the input --pool {pool}; an output never overwrites an "
                            "input: choose another path")  # fmt: skip
    with pytest.raises(ConfigError, match=r"^--out .*: contains the input --pools "):
        check_outputs(_Job(pools=[str(pool)], out=str(tmp_path)))
    with pytest.raises(ConfigError, match=r"^--markdown .*: is the input --config "):
        check_outputs(_Job(inner=_Inner(markdown=str(cfg))), config_file=str(cfg))
    d = tmp_path / "in"
    d.mkdir()
    with pytest.raises(ConfigError, match=r"^--out .*: is inside the input --judge "):
        check_outputs(_Job(judge=str(d), out=str(d / "o.json")))
    # a judge spec names its calibration file after "="
    with pytest.raises(ConfigError, match=r"^--out .*: is the input --calib "):
        check_outputs(_Job(inner=_Inner(calib=f"probe,calib={pool}"), out=str(pool)))
    # an @file input
    with pytest.raises(ConfigError, match=r"^--out .*: is the input --judge @"):
        check_outputs(_Job(judge=f"@{pool}", out=str(pool)))
    # a file input given a directory: the reader refuses it, the output check does not
    check_outputs(_Job(pool=str(tmp_path), out=str(tmp_path / "o")))
    # text that is no path, and a name too long for any file system
    check_outputs(_Job(prompt=f"{pool}\nsolve", judge="x" * 5000, out=str(tmp_path / "o")))
    check_outputs(_Job(judge="y" * 300, out=str(tmp_path / "o")))


def test_check_outputs_refuses_two_pools_of_one_name_and_bad_targets(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in "ab":
        (tmp_path / d / "p.jsonl").write_text("{}\n")
    (tmp_path / "b" / "p.jsonl.gz").write_text("")
    with pytest.raises(ConfigError) as e:
        check_outputs(
            _Job(pools=[str(tmp_path / "a" / "p.jsonl"), str(tmp_path / "b" / "p.jsonl.gz")])
        )
    assert str(e.value) == (f"--pools {tmp_path / 'a' / 'p.jsonl'} and {tmp_path / 'b' / 'p.jsonl.gz'}: two "
                            "inputs with the file name 'p.jsonl' would write the same results; rename or copy one")  # fmt: skip
    check_outputs(
        _Job(pools=[str(tmp_path / "a" / "p.jsonl"), str(tmp_path / "a" / "p.jsonl")])
    )  # the same file
    with pytest.raises(
        ConfigError, match=r"^--markdown .*: is a directory; --markdown takes a file$"
    ):
        check_outputs(_Job(inner=_Inner(markdown=str(tmp_path))))
    with pytest.raises(ConfigError, match=r"^--out /dev/null: is a device"):
        check_outputs(_Job(out="/dev/null"))
    if os.geteuid() != 0:
        ro = tmp_path / "ro.json"
        ro.write_text("")
        ro.chmod(0o400)
        with pytest.raises(ConfigError) as e:
            check_outputs(_Job(out=str(ro)))
        assert str(e.value) == f"--out {ro}: cannot write here (not writable)"
    with pytest.raises(MissingInputError, match="is a file"):
        check_outputs(_Job(out=str(tmp_path / "a" / "p.jsonl" / "x")))


def test_file_sha256_and_provenance(tmp_path, monkeypatch):
    p = tmp_path / "in.bin"
    p.write_bytes(b"x" * (3 << 20))  # several blocks
    assert file_sha256(p) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()
    monkeypatch.setattr(sys, "argv", ["deepprune", "solve", "--api-key", "sk-secret"])
    prov = provenance([p, None, tmp_path / "missing", tmp_path])
    from deepprune.version import __version__

    assert prov["deepprune_version"] == __version__
    assert prov["inputs"] == {str(p): file_sha256(p)}
    assert "sk-secret" not in json.dumps(prov) and prov["command"][:3] == [
        "deepprune",
        "solve",
        "--api-key",
    ]
    assert prov["date"].endswith("+00:00") and len(prov["date"]) == 25
    rev = prov["git_revision"]
    assert rev is None or (len(rev) == 40 and int(rev, 16) >= 0)
    monkeypatch.setenv("PATH", "")  # no git: no revision, no error
    assert provenance()["git_revision"] is None
    assert provenance()["inputs"] == {}


def test_atomic_write_creates_missing_parents_and_its_temporary_beside_the_target(
    tmp_path, monkeypatch
):
    seen = []
    real = os.replace
    monkeypatch.setattr(
        os, "replace", lambda src, dst: (seen.append((src, dst)), real(src, dst))[1]
    )
    atomic_write(tmp_path / "a" / "b" / "c.txt", "x")
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "x"
    ((src, dst),) = seen
    src = Path(src)
    assert src.parent == tmp_path / "a" / "b" and Path(dst) == tmp_path / "a" / "b" / "c.txt"
    assert src.name.startswith(".c.txt.") and src.name.endswith(
        ".tmp"
    )  # hidden, named for its target


def test_a_section_at_the_start_of_a_file_or_among_stray_markers(tmp_path):
    begin, end = section_markers("t")
    p = tmp_path / "r.md"
    p.write_text(f"{begin}\nold\n{end}\ntail\n")  # the section opens the file
    assert check_section(p, "t") == p.read_text()
    p.write_text(f"{end}\n{begin}\nold\n{end}\n")  # an end marker before the begin: refused
    with pytest.raises(DeepPruneError, match="no section 't'"):
        check_section(p, "t")
    p.write_text(
        f"{begin}\nx\n{end}\n{begin}\n"
    )  # a stray begin after the section: the first one counts
    assert check_section(p, "t")


def test_write_generated_replaces_only_the_first_section_of_a_name(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["python"])
    begin, end = section_markers("t")
    p = tmp_path / "r.md"
    p.write_text(f"a\n{begin}\nold1\n{end}\nb\n{begin}\nold2\n{end}\nc\n")
    write_generated(p, "new", "make t", section="t")
    assert p.read_text() == (
        f"a\n{begin}\n<!-- generated by: make t -->\n\nnew\n{end}\nb\n{begin}\nold2\n{end}\nc\n"
    )


def test_output_emit_replaces_its_section_and_prints_json_as_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["python"])
    begin, end = section_markers("t")
    p = tmp_path / "r.md"
    p.write_text(f"prose\n{begin}\nold\n{end}\nmore prose\n")
    Output(markdown=str(p), section="t").emit([{"a": 1}], lambda r: "TABLE", "compare")
    assert (
        p.read_text()
        == f"prose\n{begin}\n<!-- generated by: deepprune compare -->\n\nTABLE\n{end}\nmore prose\n"
    )
    capsys.readouterr()
    res = [{"path": tmp_path, "x": [1, 2]}]
    Output(json=True).emit(res, lambda r: "x", "c")
    assert capsys.readouterr().out == json.dumps(res[0], indent=1, default=str) + "\n"


def test_read_jsonl_quotes_the_first_80_characters_of_a_refusal(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_bytes(b"9" * 5000 + b"\n")
    try:
        int("9" * 5000)
    except ValueError as e:
        why = str(e)
    assert len(why) > 80
    with pytest.raises(ConfigError) as e:
        read_jsonl(p)
    assert str(e.value) == f"{p}:1: JSON this reader refuses (ValueError: {why[:80]})"


def test_writable_dir_probes_inside_the_directory_and_says_why_it_cannot(tmp_path, monkeypatch):
    import tempfile

    calls = []
    real = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", lambda **kw: (calls.append(kw), real(**kw))[1])
    writable_dir(tmp_path / "new" / "dir")
    assert calls == [{"dir": tmp_path, "prefix": ".deepprune-write-check-"}]

    def refuse(**kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(MissingInputError) as e:
        writable_dir(tmp_path / "x")
    assert str(e.value) == f"{tmp_path / 'x'}: cannot write here ({tmp_path}: Permission denied)"


def test_a_nested_output_is_never_read_as_an_input(tmp_path):
    md = tmp_path / "report.md"
    md.write_text("")  # an existing --markdown in a nested config: an output, rewritten in place
    check_outputs(_Job(inner=_Inner(markdown=str(md)), out=str(tmp_path / "o")))


def test_provenance_names_the_checkouts_revision():
    import subprocess

    here = Path(artifacts.__file__).parent
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True
    ).stdout.strip()
    assert provenance()["git_revision"] == (head or None)


def test_check_outputs_reads_every_input_however_it_is_written(tmp_path, monkeypatch):
    pool = tmp_path / "pool.jsonl"
    pool.write_text("{}\n")
    odd = tmp_path / "x=y.json"  # a calibration file with "=" in its name
    odd.write_text("{}")
    refused = [
        _Job(judge=f"probe,calib={odd}", out=str(odd)),
        _Job(judge=f"probe,x=1,calib={pool}", out=str(pool)),  # the second key=value of a spec
        _Job(
            judge="a\nprompt", inner=_Inner(calib=str(pool)), out=str(pool)
        ),  # text before an input
        _Job(
            judge="y" * 300 + f",calib={pool}", out=str(pool)
        ),  # a part no file system takes first
        _Job(
            pools=[str(tmp_path)], answer_file=str(pool), out=str(pool)
        ),  # a directory for a file first
    ]
    for job in refused:
        with pytest.raises(ConfigError, match="an output never overwrites an input"):
            check_outputs(job)
    with pytest.raises(ConfigError) as e:
        check_outputs(_Job(answer_file=str(pool), out=str(pool)))
    assert str(e.value).startswith(f"--out {pool}: is the input --answer-file {pool};")
    with pytest.raises(ConfigError, match=r"^--save-traces /dev/null: is a device"):
        check_outputs(_Job(save_traces="/dev/null"))
    monkeypatch.chdir(tmp_path)
    check_outputs(
        _Job(judge="", out="o.json")
    )  # an empty field names no input (not the directory "")
