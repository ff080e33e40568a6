"""Which version of a model serves: the configured folder (EMBEDDING_MODEL) or an adaptation of it (issue 19).

A small JSON pointer in the models folder, written atomically: {"base": the configured folder, "active": the
folder that serves, "history": the folders that served before, newest last}. It applies only while the
configured model is its base, so pointing EMBEDDING_MODEL at another model never serves an adaptation of the old
one. Rolling back is serving the previous folder again; no weights are ever deleted here."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

POINTER = "active-model.json"
VERSIONS = "versions"  # adapted folders live under <models>/versions/
CALIBRATION = "calibration.json"  # a version's own score calibration, refit on judged pairs after adapting


class VersionError(ValueError):
    """A version that cannot serve; the message (en / zh-CN) says what to do."""


@dataclass
class Pointer:
    base: str
    active: str
    history: list[str] = field(default_factory=list)


def _norm(path: str | os.PathLike) -> str:
    return str(Path(path).expanduser().resolve())


class ModelVersions:
    """The pointer file of one models folder (INSTANCE_DIR/models)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.path = self.root / POINTER

    def stamp(self) -> Optional[int]:
        """The pointer's mtime (None: no pointer): a cheap check for a change made by another process."""
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def read(self) -> Optional[Pointer]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return Pointer(str(raw["base"]), str(raw["active"]), [str(h) for h in raw.get("history", [])])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def serving(self, configured: str) -> str:
        """The folder that serves for this configured model: its active adaptation if it has one that is
        complete on disk, else the configured model itself."""
        pointer = self.read()
        if pointer is None or pointer.base != _norm(configured) or pointer.active == pointer.base:
            return configured
        return pointer.active if (Path(pointer.active) / "modules.json").is_file() else configured

    def activate(self, configured: str, folder: str | os.PathLike) -> Pointer:
        """Serve ``folder`` (an adaptation of the configured model, or the configured model itself)."""
        target = _norm(folder)
        if not (Path(target) / "modules.json").is_file():
            raise VersionError(f"{target} is not a model folder (no modules.json) / {target} 不是模型目录")
        base = _norm(configured)
        pointer = self.read()
        if pointer is None or pointer.base != base:
            pointer = Pointer(base, base)
        if pointer.active != target:
            pointer.history.append(pointer.active)
        pointer.active = target
        self._write(pointer)
        return pointer

    def rollback(self, configured: str) -> Pointer:
        """Serve the folder that served before the current one."""
        pointer = self.read()
        base = _norm(configured)
        if pointer is None or pointer.base != base or not pointer.history:
            raise VersionError("nothing to roll back to: the configured model has served all along / "
                               "没有可回滚的版本：一直由配置的模型提供服务")
        while pointer.history:
            previous = pointer.history.pop()
            if (Path(previous) / "modules.json").is_file():
                pointer.active = previous
                self._write(pointer)
                return pointer
        raise VersionError("no earlier version is left on disk / 磁盘上已没有更早的版本")

    def adapted(self, configured: str) -> list[Path]:
        """The adapted folders of the configured model, oldest first (their markers name their base)."""
        base = _norm(configured)
        out = []
        for folder in sorted((self.root / VERSIONS).glob("*/adaptation.json")):
            try:
                marker = json.loads(folder.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if _norm(marker.get("base", "")) == base:
                out.append(folder.parent)
        # by when each was made (its marker, written once; the folder's own time moves when a calibration is added)
        return sorted(out, key=lambda p: (p / "adaptation.json").stat().st_mtime_ns)

    def _write(self, pointer: Pointer) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".active-", dir=self.root)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"base": pointer.base, "active": pointer.active, "history": pointer.history}, fh, indent=2)
        os.replace(tmp, self.path)
