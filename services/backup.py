"""Backups of the SQLite database with SQLite's online backup API, and a restore that checks first."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from .errors import ServiceError


@dataclass
class BackupInfo:
    """What a checked backup file holds."""

    path: Path
    revision: str
    users: int
    bytes: int


def sqlite_path(url: str) -> Path:
    """The file of a sqlite:/// URL; ServiceError for other databases (use pg_dump/pg_restore there)."""
    if not url.startswith("sqlite:///"):
        raise ServiceError("backup.not_sqlite")
    return Path(url[len("sqlite:///"):])


def create(db_file: Path, dest: Path) -> BackupInfo:
    """Copy the live database page by page while it stays in use, to a new file (never overwrites)."""
    dest = Path(dest)
    if dest.exists():
        raise ServiceError("backup.exists", path=str(dest))
    if not dest.parent.is_dir():
        raise ServiceError("backup.no_folder", path=str(dest.parent))
    tmp = dest.with_name(dest.name + ".part")
    src = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        out = sqlite3.connect(tmp)
        try:
            src.backup(out, pages=1024)  # in steps, so writers are not held up for long
            out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            out.close()
    finally:
        src.close()
    tmp.replace(dest)
    return inspect(dest, None)


def inspect(path: Path, expected_revision: Optional[str]) -> BackupInfo:
    """Check that a file is an intact database of this application (and at this schema revision)."""
    path = Path(path)
    if not path.is_file():
        raise ServiceError("backup.missing", path=str(path))
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise ServiceError("backup.corrupt", path=str(path))
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not {"alembic_version", "users", "demands", "achievements"} <= tables:
                raise ServiceError("backup.not_ours", path=str(path))
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        raise ServiceError("backup.corrupt", path=str(path)) from None
    if revision is None or (expected_revision and revision[0] != expected_revision):
        raise ServiceError("backup.wrong_revision", path=str(path), found=revision[0] if revision else "-",
                           expected=expected_revision)
    return BackupInfo(path, revision[0], users, path.stat().st_size)


def restore(db_file: Path, source: Path, expected_revision: str) -> Path:
    """Replace the live database's content with a checked backup; the current content is kept beside it."""
    inspect(source, expected_revision)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safety = Path(db_file).with_name(f"{Path(db_file).name}.before-restore-{stamp}")
    create(Path(db_file), safety)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        live = sqlite3.connect(db_file, timeout=30)
        try:
            src.backup(live)  # page copy into the live file: open connections see the restored data next
        finally:
            live.close()
    finally:
        src.close()
    return safety
