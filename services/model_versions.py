"""Model versions: the encoder adapted to the platform's own published listings, served without downtime, and
rolled back in one command (issue 19; the recipe is matchmaking/adapt.py, the pointer matchmaking/versions.py).

An adaptation always starts from the configured model (EMBEDDING_MODEL), never from an earlier adaptation, so
a nightly run does not drift. Its steps: train a new folder under INSTANCE_DIR/models/versions/, export it to ONNX
as `make model` does, encode every published listing with it into its own vector index (the serving model and
its index are untouched meanwhile), refit the score calibration on judged pairs when given, then switch the
pointer: every process serves the new version within a second (MatchingRuntime.follow_model). Any failure
before the switch removes the new folder and leaves the serving model as it was."""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from matchmaking import adapt as adapt_module
from matchmaking.adapt import AdaptError, AdaptOptions, AdaptResult, adapt
from matchmaking.encoders import resolve_setup
from matchmaking.versions import CALIBRATION, VERSIONS, ModelVersions, VersionError

from models import Job

from . import jobs, judged
from .errors import ServiceError
from .indexing import MODELS, published_docs
from .matching import MatchingRuntime

log = logging.getLogger(__name__)
__all__ = ["AdaptError", "AdaptOptions", "VersionError", "Adapted", "adapt_listings", "use_version",
           "rollback", "listing_texts", "versions_table", "prune", "submit_adapt", "submit_scheduled", "ADAPT_JOB"]
ADAPT_JOB = "model.adapt"


@dataclass
class Adapted:
    """An adaptation that now serves (or is ready to, with activate=False)."""

    result: AdaptResult
    folder: Path
    model_key: str  # as it serves here (the folder's key, plus the quantisation this CPU runs it with)
    encoded: dict[str, int]
    calibrated: bool
    seconds: float
    active: bool


def listing_texts(session: Session) -> list[tuple[str, str]]:
    """(title, body) of every published demand and achievement, in id order: what the adaptation learns from.
    Contact details are never part of a listing's engine view (indexing.to_doc), so never part of the model."""
    return _texts_and_kinds(session)[0]


def _texts_and_kinds(session: Session) -> tuple[list[tuple[str, str]], list[str]]:
    """listing_texts and the kind of each (a hard negative stays within its kind: a demand's answer is not one)."""
    texts: list[tuple[str, str]] = []
    kinds: list[str] = []
    for kind in MODELS:
        docs = published_docs(session, kind)
        texts += [(docs[i].title or "", docs[i].body or "") for i in sorted(docs)]
        kinds += [kind] * len(docs)
    return texts, kinds


def _folder(runtime: MatchingRuntime) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return runtime.versions.root / VERSIONS / f"{Path(runtime.configured_model).resolve().name}-adapted-{stamp}"


def adapt_listings(config: Mapping[str, Any], session: Session, runtime: MatchingRuntime, *,
                   options: AdaptOptions = AdaptOptions(), judged_rows: Optional[Sequence[judged.Judged]] = None,
                   activate: bool = True, progress: Optional[Callable[[str], None]] = None,
                   commit: Callable[[], None]) -> Adapted:
    """Adapt the configured model to the published listings, index them with it, refit the calibration on
    judged_rows when given, and (activate) make it serve. ``commit`` is the caller's unit-of-work boundary: the
    new vectors must be durable before any process serves from them, so the switch waits for it."""
    say = progress or (lambda _m: None)
    start = time.perf_counter()
    options.check()
    texts, kinds = _texts_and_kinds(session)
    folder = _folder(runtime)
    say(f"adapting {Path(runtime.configured_model).name} on {len(texts)} published listings / "
        f"在 {len(texts)} 条已发布条目上适配模型")
    result = adapt(runtime.configured_model, texts, folder, options,
                   progress=lambda s, n, loss: say(f"step {s}/{n} loss {loss:.3f}") if s % 20 == 0 or s == n
                   else None, groups=kinds)
    try:
        if resolve_setup(runtime.configured_model, *runtime.setup)[0] == "onnx":  # the configured model runs on
            # ONNX Runtime on this CPU (no bf16): so does its adaptation
            why = adapt_module.export_onnx(folder)
            if why:
                log.warning("ONNX export of %s skipped (%s); it runs on torch", folder, why)
        new = _runtime_for(config, session, folder)
        say(f"encoding the published listings with the adapted model / 用适配后的模型编码: {new.encoder!r}")
        report = new.sync(session)
        commit()  # its vectors durable before its matchers (own sessions) read them or any process serves them
        calibrated = False
        if judged_rows:
            judged.fit(new, session, list(judged_rows)).save(folder / CALIBRATION)
            calibrated = True
        if activate:
            runtime.versions.activate(runtime.configured_model, folder)
    except BaseException:
        session.rollback()
        _discard(folder)
        raise
    if activate:
        new.sync(session)  # what was edited while it encoded (the old model indexed those)
        commit()
    return Adapted(result, folder, new.encoder.model_key, dict(report.encoded), calibrated,
                   round(time.perf_counter() - start, 1), activate)


def use_version(config: Mapping[str, Any], session: Session, runtime: MatchingRuntime,
                folder: str, commit: Callable[[], None]) -> Path:
    """Serve the model in ``folder`` (an adaptation, or the configured model): its index is brought up to date
    first, so pages answer from a complete index the moment the switch is seen."""
    target = Path(folder).expanduser().resolve()
    if not (target / "modules.json").is_file():
        raise VersionError(f"{target} is not a model folder (no modules.json) / {target} 不是模型目录")
    _sync_with(config, session, target)
    commit()
    runtime.versions.activate(runtime.configured_model, target)
    return target


def rollback(config: Mapping[str, Any], session: Session, runtime: MatchingRuntime,
             commit: Callable[[], None]) -> Path:
    """Serve the version that served before the current one, its index caught up with edits made since."""
    pointer = runtime.versions.read()
    history = [h for h in (pointer.history if pointer and pointer.base == str(Path(runtime.configured_model)
                                                                                 .expanduser().resolve()) else [])
               if (Path(h) / "modules.json").is_file()]
    if not history:
        raise VersionError("nothing to roll back to: the configured model has served all along / "
                           "没有可回滚的版本：一直由配置的模型提供服务")
    _sync_with(config, session, Path(history[-1]))
    commit()
    return Path(runtime.versions.rollback(runtime.configured_model).active)


def versions_table(runtime: MatchingRuntime) -> list[dict[str, Any]]:
    """The configured model and its adaptations, which one serves, with each adaptation's marker."""
    serving = str(Path(runtime.versions.serving(runtime.configured_model)).expanduser().resolve())
    base = str(Path(runtime.configured_model).expanduser().resolve())
    rows = [{"folder": base, "kind": "configured", "serving": serving == base}]
    for folder in runtime.versions.adapted(runtime.configured_model):
        marker = json.loads((folder / "adaptation.json").read_text(encoding="utf-8"))
        rows.append({"folder": str(folder), "kind": "adapted", "serving": serving == str(folder.resolve()),
                     "pairs": marker.get("pairs"), "steps": marker.get("steps"), "seconds": marker.get("seconds"),
                     "calibrated": (folder / CALIBRATION).is_file()})
    return rows


def _runtime_for(config: Mapping[str, Any], session: Session, folder: Path) -> MatchingRuntime:
    """A runtime of the model in ``folder`` for this command only: on a sessionmaker of its own, so the
    listeners it installs (after-commit index sync, page versions) die with it instead of joining the
    serving runtime's on the application's factory."""
    scratch = sessionmaker(bind=session.get_bind(), expire_on_commit=False)
    return MatchingRuntime(dict(config, EMBEDDING_MODEL=str(folder), CALIBRATION_FILE=None), scratch)


def _sync_with(config: Mapping[str, Any], session: Session, folder: Path) -> None:
    _runtime_for(config, session, folder).sync(session)


def _discard(folder: Path) -> None:
    from matchmaking.onnx_encoder import default_onnx_dir

    for path in (folder, default_onnx_dir(folder)):
        shutil.rmtree(path, ignore_errors=True)


def prune(runtime: MatchingRuntime, keep: int) -> list[Path]:
    """Remove adaptations of the configured model beyond the newest ``keep``, not counting the one that serves
    and the one a rollback would go back to (both always kept); returns the folders removed. A nightly
    adaptation would otherwise add a model folder (~0.5 GB with its ONNX copy) every night."""
    pointer = runtime.versions.read()
    protected = {str(Path(runtime.versions.serving(runtime.configured_model)).expanduser().resolve())}
    back = next((h for h in reversed(pointer.history) if (Path(h) / "modules.json").is_file()), None) \
        if pointer is not None else None  # what rollback() would serve: the newest earlier folder still there
    if back is not None:
        protected.add(str(Path(back).expanduser().resolve()))
    others = [f for f in runtime.versions.adapted(runtime.configured_model) if str(f.resolve()) not in protected]
    removed = others[: max(0, len(others) - max(keep, 0))]  # oldest first
    for folder in removed:
        _discard(folder)
    return removed


def running_adaptation(session: Session) -> Optional[Job]:
    """The adaptation job that is queued or running, if any (one at a time: two would train side by side)."""
    return session.scalar(select(Job).where(Job.kind == ADAPT_JOB, Job.status.in_(jobs.UNFINISHED))
                          .order_by(Job.id).limit(1))


def submit_adapt(session: Session, owner_id: Optional[int], params: Mapping[str, Any]) -> tuple[Job, bool]:
    """Queue an adaptation (the caller commits and hands the job to the queue); (job, True) when this call
    queued it, (the job already queued or running, False) otherwise."""
    current = running_adaptation(session)
    if current is not None:
        return current, False
    return jobs.submit_job(session, ADAPT_JOB, owner_id, dict(params), key=ADAPT_JOB), True


def submit_scheduled(session: Session, params: Mapping[str, Any], firing: str) -> Optional[Job]:
    """The job of one firing of MODEL_ADAPT_SCHEDULE, or None: while an adaptation is queued or running, and
    when another consumer already recorded this firing's job (whatever became of it: a job that failed fast
    is not queued again by the next consumer to fire)."""
    key = f"{ADAPT_JOB}@{firing}"
    if running_adaptation(session) is not None or session.scalar(select(Job.id).where(Job.key == key)):
        return None
    return jobs.submit_job(session, ADAPT_JOB, None, dict(params), key=key)


def scheduled_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The job parameters of the scheduled adaptation (MODEL_ADAPT_*)."""
    budget = float(config.get("MODEL_ADAPT_TIME_BUDGET") or 0)
    return {"time_budget_s": budget or None, "calibrate": config.get("MODEL_ADAPT_CALIBRATE") or "",
            "keep": int(config.get("MODEL_ADAPT_KEEP") or 3), "activate": True}


@jobs.handler(ADAPT_JOB)
def _adapt_job(session: Session, job: Job, progress: jobs.Progress, ctx: jobs.JobContext) -> dict:
    """`flask model adapt` as a job: train, index, calibrate (when a judged file is configured), switch, prune.
    A failure leaves the serving model as it was and fails the job with the reason."""
    runtime = ctx.need("matching")
    p = job.params or {}
    if job.attempts > 1:  # its consumer died mid-run (a recycled or killed worker): not started over and over
        raise ServiceError("model.adapt_failed", reason=f"interrupted (attempt {job.attempts}); the next run "
                           "starts afresh / 适配中途中断，不再自动重试")
    try:
        # options: AdaptOptions fields a caller chose (`flask model adapt --background`); the schedule sets none
        options = AdaptOptions(**{**dict(p.get("options") or {}), "time_budget_s": p.get("time_budget_s") or None})
    except TypeError as exc:  # an option AdaptOptions does not have
        raise ServiceError("model.adapt_failed", reason=str(exc)) from None
    try:
        options.check()
        rows = judged.read(p["calibrate"]) if p.get("calibrate") else None
        done = adapt_listings(ctx.config, session, runtime, options=options, judged_rows=rows,
                              activate=bool(p.get("activate", True)),
                              progress=lambda message: log.info("model.adapt job %s: %s", job.id, message),
                              commit=session.commit)
    except (AdaptError, VersionError, judged.JudgedFileError) as exc:
        raise ServiceError("model.adapt_failed", reason=str(exc)) from None
    runtime.follow_model(force=True)
    removed = prune(runtime, int(p.get("keep", 3)))
    return {"folder": str(done.folder), "model_key": done.model_key, "pairs": done.result.pairs,
            "steps": done.result.steps, "seconds": done.seconds, "encoded": done.encoded,
            "calibrated": done.calibrated, "serving": done.active, "pruned": [str(f) for f in removed]}
