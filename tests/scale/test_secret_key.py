"""Workers that start together read one secret key: the first complete file wins, nobody reads half a key."""
from __future__ import annotations

import multiprocessing as mp

import config


def _read_key(instance: str, barrier, out) -> None:
    barrier.wait()
    out.put(config._secret_key(config.Path(instance)))


def test_processes_starting_together_all_get_the_same_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    ctx = mp.get_context("fork")
    n = 8
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_read_key, args=(str(tmp_path / "instance"), barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    keys = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert len(set(keys)) == 1 and len(keys[0]) == 64
    assert [p.name for p in (tmp_path / "instance").iterdir()] == ["secret_key"]  # no temporary files left
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o777 == 0o600
