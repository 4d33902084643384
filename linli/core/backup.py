"""Backing up and restoring a Linli home (``linli backup PATH``, ``linli restore PATH``).

A backup is one tar file: the database — SQLite copied with its online backup API, so
the site may keep running and writing while it is taken, or a ``pg_dump`` (custom
format) on PostgreSQL — and the keys that were generated into the home (without the
field key, the ID numbers and merchant keys in the database cannot be read). Keys given
in the environment are the operator's to keep and are not written into the backup.

Restore puts it into the current home and database, which must be empty (a fresh home,
or a database without Linli's tables), so a restore never overwrites data; the backup's
keys replace any the fresh home generated."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import connection, connections
from django.utils.translation import gettext as _

KEY_FILES = ("secret_key", "field_key")
DB_SQLITE, DB_PG = "linli.sqlite3", "linli.pgdump"
MANIFEST = "manifest.json"


class BackupError(Exception):
    pass


def _engine() -> str:
    return "sqlite" if connection.vendor == "sqlite" else "postgresql"


def _sqlite_path() -> Path:
    return Path(connection.settings_dict["NAME"])


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
    archive.addfile(info, io.BytesIO(data))


def backup(path: Path) -> dict:
    """Write a backup of this home to ``path``; the manifest it wrote."""
    engine = _engine()
    home = Path(settings.LINLI_HOME)
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / (DB_SQLITE if engine == "sqlite" else DB_PG)
        if engine == "sqlite":
            source = sqlite3.connect(_sqlite_path(), timeout=30)
            target = sqlite3.connect(dump)
            try:
                source.backup(target)  # a consistent copy while others write
            finally:
                target.close()
                source.close()
        else:
            _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                  "--file", str(dump), _pg_url()])
        keys = [name for name in KEY_FILES if (home / name).exists()]
        manifest = {"format": 1, "engine": engine, "database": dump.name, "keys": keys,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            _add_bytes(archive, MANIFEST, json.dumps(manifest).encode())
            archive.add(dump, arcname=dump.name)
            for name in keys:
                archive.add(home / name, arcname=name)
        partial.replace(path)
    path.chmod(0o600)
    return manifest


def restore(path: Path) -> dict:
    """Put the backup at ``path`` into this (empty) home and database."""
    if not path.is_file():
        raise BackupError(_("No backup file at %(path)s.") % {"path": path})
    home = Path(settings.LINLI_HOME)
    with tarfile.open(path, "r:*") as archive, tempfile.TemporaryDirectory() as tmp:
        manifest = json.loads(archive.extractfile(MANIFEST).read())
        if manifest.get("engine") != _engine():
            raise BackupError(_("This backup is of a %(theirs)s database; this home uses "
                                "%(ours)s.") % {"theirs": manifest.get("engine"),
                                                "ours": _engine()})
        _refuse_unless_empty()
        archive.extractall(tmp, filter="data")
        dump = Path(tmp) / manifest["database"]
        # The database is empty, so nothing was encrypted with keys this home may have
        # generated when it started: the backup's keys replace them.
        for name in manifest["keys"]:
            shutil.copyfile(Path(tmp) / name, home / name)
            (home / name).chmod(0o600)
        connections.close_all()
        if manifest["engine"] == "sqlite":
            _restore_sqlite(dump)
        else:
            _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
                  "--dbname", _pg_url(), str(dump)])
    return manifest


def _refuse_unless_empty() -> None:
    if "django_migrations" in connection.introspection.table_names():
        raise BackupError(_("The database already holds Linli's tables; restore into a new "
                            "home and an empty database."))


def _restore_sqlite(dump: Path) -> None:
    target_path = _sqlite_path()
    source = sqlite3.connect(dump)
    target = sqlite3.connect(target_path, timeout=30)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _pg_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgresql://{auth}{db.get('HOST') or ''}:{db.get('PORT') or 5432}/{db['NAME']}"


def _run(command: list[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=3600)
    except FileNotFoundError as exc:
        raise BackupError(_("%(tool)s is not installed (apt-get install postgresql-client).")
                          % {"tool": command[0]}) from exc
    except subprocess.CalledProcessError as exc:
        raise BackupError(f"{command[0]}: {exc.stderr.strip()[-500:]}") from exc
