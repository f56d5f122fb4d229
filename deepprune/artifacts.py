"""Writing results: atomic files with the user's umask, run records, generated Markdown sections.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.md"
    >>> _ = p.write_text("intro\\n<!-- begin generated: t -->\\nold\\n<!-- end generated: t -->\\nend\\n")
    >>> write_generated(p, "new", "make t", section="t")
    >>> "old" in p.read_text(), "intro" in p.read_text()
    (False, True)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from deepprune.errors import ConfigError, DeepPruneError, MissingInputError


def umask() -> int:
    """The process's umask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename: a crash leaves no partial file.

    The file gets the permissions any new file of the user would (0666 minus the umask).
    """
    path = Path(path)
    refuse_special(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refuse_special(path: str | os.PathLike, flag: str = "") -> None:
    """A one-line error when ``path`` exists and is neither a regular file nor a directory (a device
    node, a FIFO, a socket): a rename over it would replace ``/dev/null`` itself."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:  # nothing there (or unreachable: the write itself will say)
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = (
            "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        )
        where = f"--{flag} {path}" if flag else str(path)
        raise ConfigError(
            f"{where}: is {kind}, not a file; outputs are written only to regular files"
        )


def replace_dir(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Put the finished directory ``tmp`` at ``path`` (replacing what was there): the directory
    counterpart of :func:`atomic_write`; readers see the old directory or the new one, whole."""
    import shutil

    tmp, path = Path(tmp), Path(path)
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def no_constant(name: str):
    """json's NaN / Infinity / -Infinity literals (not JSON): an error, never the strings "nan"/"inf"."""
    raise json.JSONDecodeError(f"{name} is not valid JSON (a number must be finite)", name, 0)


def read_jsonl(path: str | os.PathLike, what: str = "file") -> list[tuple[int, object]]:
    """(line number, decoded object) of every non-blank line of a JSONL file (gzip allowed).

    Errors name the file and line: missing, a directory, a damaged gzip, not UTF-8, not JSON.
    """
    path = Path(path)
    if path.is_dir():
        raise MissingInputError(f"{path}: is a directory, not a {what}")
    if not path.is_file():
        raise MissingInputError(f"{path}: no such {what}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        import gzip

        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ConfigError(f"{path}: a damaged gzip file ({e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text ({e.reason})") from None
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append((n, json.loads(line, parse_constant=no_constant)))
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path}:{n}: invalid JSON ({e.msg})") from None
            except (ValueError, RecursionError) as e:  # a 5000-digit integer, a 100k-deep nesting
                raise ConfigError(
                    f"{path}:{n}: JSON this reader refuses ({type(e).__name__}: {str(e)[:80]})"
                ) from None
    if not rows:
        raise ConfigError(f"{path}: empty {what}")
    return rows


def config_hash(config: dict) -> str:
    """A short stable hash of a resolved config (records carry it)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def section_markers(name: str) -> tuple[str, str]:
    return f"<!-- begin generated: {name} -->", f"<!-- end generated: {name} -->"


def check_section(path: str | os.PathLike, name: str) -> str:
    """The text of a Markdown file that has the section ``name``; a one-line error otherwise.

    Called before a long run starts, so a missing file or marker fails in a second."""
    begin, end = section_markers(name)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise DeepPruneError(
            f"{path}: cannot read the file for --section {name}: {e.strerror}"
        ) from e
    except UnicodeDecodeError as e:  # a section is replaced in text; this file is not UTF-8 text
        raise DeepPruneError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); --section "
                             f"{name} replaces a part of a Markdown file") from None  # fmt: skip
    a, b = text.find(begin), text.find(end)
    if a < 0 or b < a:
        raise DeepPruneError(f"{path}: no section {name!r} (add the lines {begin!r} and {end!r})")
    return text


def write_generated(
    path: str | os.PathLike, body: str, fallback: str, section: str | None = None
) -> None:
    """Write a Markdown report atomically, headed by the command line that produced it.

    With ``section``, only the part of the existing file between that section's begin/end
    markers is replaced (a README keeps its prose; the table in it is regenerated)."""
    argv0 = sys.argv[0] if sys.argv else ""
    from deepprune.redact import redact_argv

    cmd = (
        "deepprune " + " ".join(redact_argv(sys.argv[1:]))
        if argv0.endswith("deepprune")
        else fallback
    )
    report = f"<!-- generated by: {cmd} -->\n\n{body}\n"
    if section:
        text = check_section(path, section)
        begin, end = section_markers(section)
        head, rest = text.split(begin, 1)
        report = f"{head}{begin}\n{report}{end}{rest.split(end, 1)[1]}"
    atomic_write(path, report)


@dataclass
class Output:
    """Where a command's report goes: printed (text, or JSON), and a Markdown file or section."""

    markdown: str | None = None  # also write the report here
    # replace only this generated section of the --markdown file (between <!-- begin generated: NAME -->
    # and <!-- end generated: NAME -->)
    section: str | None = None
    json: bool = False  # print the results as JSON

    def __post_init__(self) -> None:
        if self.section is not None and not self.section.strip():
            raise ConfigError(
                "--section: an empty section name; name the generated section to replace"
            )
        if self.section and not self.markdown:
            raise ConfigError("--section needs --markdown FILE")
        if self.section:
            check_section(self.markdown, self.section)  # before the run, not after it

    def emit(self, results: list, render, command: str, footer=None) -> int:
        """Write the Markdown report and print the results (text with each result's ``footer``,
        or JSON)."""
        body = "\n\n".join(render(r) for r in results)
        if self.markdown:
            write_generated(self.markdown, body, f"deepprune {command}", self.section)
        if self.json:
            print(json.dumps(results[0] if len(results) == 1 else results, indent=1, default=str))
        else:
            print("\n\n".join(render(r) + (footer(r) if footer else "") for r in results))
        return 0


def writable_dir(path: str | os.PathLike) -> Path:
    """Check before any work that ``path`` can be created and written: a real probe file in its
    nearest existing directory (permission bits say nothing to root, nor of a read-only mount)."""
    p = Path(path)
    existing = next(a for a in [p, *p.parents] if a.exists() or a == Path(a.anchor))
    if not existing.is_dir():
        raise MissingInputError(f"{p}: cannot write here ({existing} is a file)")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".deepprune-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise MissingInputError(f"{p}: cannot write here ({existing}: {e.strerror})") from None
    return p


OUTPUT_FIELDS = ("out", "markdown", "save_traces", "recipe_out")  # the fields commands write to
FILE_INPUTS = (
    "pool",
    "pools",
    "problems",
)  # inputs that are files (a directory there is bad input)


def _path_values(obj, skip=OUTPUT_FIELDS) -> list[tuple[str, str]]:
    """(field, value) of every string field of a (nested) config dataclass, lists included."""
    import dataclasses

    out = []
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v):
            out += _path_values(v, skip)
        elif f.name in skip:
            continue
        elif isinstance(v, str):
            out.append((f.name, v))
        elif isinstance(v, (list, tuple)):
            out += [(f.name, x) for x in v if isinstance(x, str)]
    return out


def check_outputs(job, config_file: str | None = None) -> None:
    """Refuse, before any work, an output (``out``, ``markdown``, at any depth of the job's config)
    that is, contains or is contained in one of the job's existing inputs (``config_file``, the
    ``--config`` YAML, among them), or that exists and is not a regular file or directory: one line
    naming both."""
    import dataclasses

    def outputs(obj):
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if dataclasses.is_dataclass(v):
                yield from outputs(v)
            elif f.name in OUTPUT_FIELDS and isinstance(v, str) and v:
                yield f.name, v

    inputs, named = [], {}
    if config_file:
        inputs.append(("config", config_file, Path(config_file).resolve()))
    for name, v in _path_values(job):
        key = (name, Path(v).name.removesuffix(".gz"))
        if (
            name in ("pool", "pools") and named.setdefault(key, v) != v
        ):  # results are keyed by file name
            raise ConfigError(f"--{name} {named[key]} and {v}: two inputs with the file name {key[1]!r} would "
                              "write the same results; rename or copy one")  # fmt: skip
        if "\n" in v or len(v) > 1024:
            continue  # a prompt or other text, not a path
        parts = [
            v,
            *(x.split("=", 1)[1] for x in v.split(",") if "=" in x),
        ]  # judge specs: calib=FILE
        for part in parts:
            p = Path(part.removeprefix("@"))
            try:
                if part and p.exists():
                    inputs.append((name, part, p.resolve()))
            except OSError:  # a name no file system takes (too long): not an input
                continue
    for oname, o in outputs(job):
        target = Path(o)
        refuse_special(target, oname.replace("_", "-"))
        if oname == "markdown" and target.is_dir():
            raise ConfigError(f"--markdown {o}: is a directory; --markdown takes a file")
        if target.exists() and not os.access(target, os.W_OK):
            raise ConfigError(f"--{oname} {o}: cannot write here (not writable)")
        writable_dir(target if target.is_dir() else target.parent)
        op = target.resolve()
        for iname, i, ip in inputs:
            if (
                ip in op.parents and iname in FILE_INPUTS
            ):  # a directory given for a file: the reader says so
                continue
            if op == ip or op in ip.parents or ip in op.parents:
                rel = "is" if op == ip else "contains" if op in ip.parents else "is inside"
                raise ConfigError(f"--{oname} {o}: {rel} the input --{iname.replace('_', '-')} {i}; "
                                  "an output never overwrites an input: choose another path")  # fmt: skip


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes (inputs named in provenance)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance(inputs=()) -> dict:
    """Where a result came from: the deepprune version, the git revision of its checkout (when
    there is one), the command line, the date (UTC) and the sha256 of every input file."""
    import datetime
    import subprocess

    from deepprune.version import __version__

    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5).stdout.strip() or None  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        rev = None
    files = {str(p): file_sha256(p) for p in inputs if p and Path(p).is_file()}
    from deepprune.redact import redact_argv

    return {"deepprune_version": __version__, "git_revision": rev, "command": redact_argv(sys.argv),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "inputs": files}  # fmt: skip
