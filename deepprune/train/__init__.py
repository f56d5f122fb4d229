"""The LLaMA-Factory extension: focal loss in ``llamafactory-cli train`` (:mod:`.extension`,
:mod:`.lf_hook`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from deepprune.errors import ConfigError


@dataclass
class HookJob:
    """``deepprune hook``: the llamafactory-cli import hook (focal keys in plain llamafactory-cli train)."""

    action: str = field(default="status", metadata={"nargs": None})  # install, uninstall or status
    dir: str | None = None  # site directory (default: this interpreter's site-packages)

    def __post_init__(self):
        if self.action not in ("install", "uninstall", "status"):
            raise ConfigError(
                f"hook: action must be install, uninstall or status, got {self.action!r}"
            )

    def run(self) -> int:
        from deepprune.train import lf_hook

        if self.action == "install":
            print(
                f"installed {lf_hook.install(self.dir)}: llamafactory-cli train now accepts focal_* keys"
            )
        elif self.action == "uninstall":
            print("removed" if lf_hook.uninstall(self.dir) else "not installed; nothing to remove")
        else:
            msg = lf_hook.status(self.dir)
            print(msg)
            return 0 if msg.startswith("installed") else 1
        return 0
