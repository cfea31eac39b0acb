"""Stage 1 training runs: a Job plus a ModelVersion, the work a worker does for them,
and everything the run leaves in the registry.

    job, version = training_job_create(modality="chest_ct", preset="small",
                                       label_sources="gold_weak", user=admin)
    job_enqueue(job=job, task=stage1_train_task)

Artefacts live in MODEL_STORAGE_DIR/<modality>/v<pk>/:
    data_snapshot.json   the frozen training data (ids, sources, labels); SHA-256 in the row
    mlm/                 the masked-LM checkpoint, when the run pretrains
    model/               the classifier (inference.ml.bert.artifacts layout)

Resuming. A worker that dies mid-run gets the job again (acks_late, stale-job
re-send). Each step is skipped when its output is already complete: the snapshot
(read back, checksum verified, so the data cannot drift between attempts), the
MLM checkpoint, the classifier; the ML library writes directories atomically, so
a half-written one never counts. Held-out predictions are idempotent writes.

The ML library is imported inside functions: importing torch and transformers
costs seconds, and web processes that only list models never need them.
"""

from __future__ import annotations

import math
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotations.models import Modality, WeakLabelSet
from inference.models import ModelVersion, Stage1Prediction
from inference.selectors import model_version_active
from inference.services.stage1_data import (
    LABEL_SOURCE_CHOICES,
    WEAK_AUTO,
    Stage1DataError,
    Stage1RecipeRefused,
    TrainingData,
    gold_key_sets,
    modality_get,
    report_texts,
    snapshot_read,
    snapshot_write,
    storage_root,
    training_data_build,
    training_inputs_preview,
    version_dir,
)
from jobs.models import Job
from jobs.selectors import format_duration
from jobs.services import JobCancelled, job_create, job_log, job_progress

PRESET_CHOICES = (
    ("cpu", "CPU recipe (2 cores: ~22 minutes on 700 real reports, 5 members)"),
    ("small", "Small (CPU, minutes on the demo corpus)"),
    ("base", "Base (BERT-base size, for a GPU)"),
    ("tiny", "Tiny (smoke tests only)"),
)
DEFAULT_EPOCHS = 8
DEFAULT_MLM_EPOCHS = 3
# The windows recipe's cross-fitted members (recipe.RecipeConfig.members, docs/decisions.md):
# 5 read held-out F1 0.890-0.898, 3 read 0.870-0.888 and one model 0.826-0.887; each member
# is one more fine-tuning run and one more encoder at inference.
DEFAULT_MEMBERS, MAX_MEMBERS = 5, 8
# How a run reads and learns (docs/decisions.md): "windows" is the recipe of
# inference/ml/bert/recipe.py (whole reports as sentence windows, window-level targets
# from the rule engine, gold-only calibration); "first_tokens" the earlier report-level
# fine-tuning of the first max_len tokens, kept for comparison.
RECIPE_WINDOWS, RECIPE_FIRST_TOKENS = "windows", "first_tokens"
RECIPE_CHOICES = (RECIPE_WINDOWS, RECIPE_FIRST_TOKENS)
MAX_CURVE_POINTS = 2000
PROGRESS_EVERY_S = 1.0
SNAPSHOT_FILE, MLM_DIR, MODEL_DIR = "data_snapshot.json", "mlm", "model"


def checkpoint_check(path: str) -> Path:
    """A starting checkpoint must be a Hugging Face directory under one of the
    allowed roots (settings.STAGE1_CHECKPOINT_ROOTS, default MODEL_STORAGE_DIR): an
    admin form must not become a way to read arbitrary server paths."""
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, ValueError, RuntimeError):  # a NUL byte, an unknown ~user, a symlink loop
        raise Stage1DataError(f"{path!r} is not a usable directory path") from None
    roots = [Path(r).resolve() for r in getattr(settings, "STAGE1_CHECKPOINT_ROOTS", [storage_root()])]
    if not any(resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise Stage1DataError(f"checkpoint directories must lie under {allowed}")
    if not resolved.is_dir():
        raise Stage1DataError(f"checkpoint directory {resolved} does not exist")
    if not (resolved / "config.json").is_file():
        raise Stage1DataError(f"{resolved} is not a model checkpoint: it has no config.json")
    return resolved


def training_job_create(
    *,
    modality: Modality | str,
    preset: str,
    label_sources: str,
    weak_mode: str = WEAK_AUTO,
    init_checkpoint: str = "",
    pretrain: bool = False,
    morphemes: bool = False,
    epochs: int | None = None,
    mlm_epochs: int | None = None,
    max_steps: int = 0,
    recipe: str = RECIPE_WINDOWS,
    members: int = DEFAULT_MEMBERS,
    user: Any = None,
) -> tuple[Job, ModelVersion]:
    """Check the request and create the Job and its ModelVersion (status training).
    Raises Stage1DataError with a message for the admin; the caller enqueues. A recipe
    without gold, or whose weak labels do not exist, is refused here (its inputs are
    counted now; the worker counts again when it freezes the snapshot). The weak mode
    "auto" is resolved now, so the run records the mode it trains on."""
    modality = modality_get(modality)
    if preset not in dict(PRESET_CHOICES):
        raise Stage1DataError(
            f"unknown size preset {preset!r}; choose one of {', '.join(dict(PRESET_CHOICES))}"
        )
    if label_sources not in LABEL_SOURCE_CHOICES:
        raise Stage1DataError(f"unknown label sources {label_sources!r}")
    if recipe not in RECIPE_CHOICES:
        raise Stage1DataError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPE_CHOICES)}")
    if weak_mode != WEAK_AUTO and weak_mode not in WeakLabelSet.Mode.values:
        raise Stage1DataError(f"unknown weak-label mode {weak_mode!r}")
    checkpoint = str(checkpoint_check(init_checkpoint)) if init_checkpoint.strip() else ""
    for name, value in (("epochs", epochs), ("mlm_epochs", mlm_epochs)):
        if value is not None and not 1 <= value <= 200:
            raise Stage1DataError(f"{name} must be between 1 and 200")
    if not 1 <= members <= MAX_MEMBERS:
        raise Stage1DataError(f"members must be between 1 and {MAX_MEMBERS}")
    inputs = training_inputs_preview(modality, label_sources=label_sources, weak_mode=weak_mode)
    if inputs.problem:
        raise Stage1RecipeRefused(inputs.problem)
    weak_mode = inputs.weak_mode or weak_mode  # resolved ("auto" -> a stored mode)
    params = {
        "modality": modality.code,
        "preset": preset,
        "label_sources": label_sources,
        "weak_mode": weak_mode,
        "init_checkpoint": checkpoint,
        "pretrain": bool(pretrain),
        "morphemes": bool(morphemes),
        "epochs": epochs or DEFAULT_EPOCHS,
        "mlm_epochs": mlm_epochs or DEFAULT_MLM_EPOCHS,
        "max_steps": max(0, int(max_steps)),
        "recipe": recipe,
        "members": members,
        "requested_counts": inputs.counts,  # what the request saw; data_counts is what was frozen
    }
    with transaction.atomic():
        version = ModelVersion.objects.create(
            modality=modality,
            name=f"{modality.code}-pending-{timezone.now().timestamp()}",
            preset=preset,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            config={"request": params},
        )
        version.name = version.numbered_name()  # "<modality>-v<n>", numbered per modality
        params["model_version_id"] = version.pk
        job = job_create(
            kind=Job.Kind.TRAIN,
            title=f"Stage 1 training: {version.name} ({preset}, {label_sources})",
            params=params,
            user=version.created_by,
        )
        version.job = job
        version.save(update_fields=["name", "job"])
    return job, version


def training_job_work(job: Job) -> dict[str, Any]:
    """The task body (tasks.stage1.stage1_train_task through jobs.services.job_run).
    The version's status follows the job's: failed and cancelled runs say so."""
    version = ModelVersion.objects.select_related("modality").get(pk=job.params["model_version_id"])
    try:
        return _train(job, version)
    except JobCancelled:
        ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.CANCELLED)
        raise
    except Exception:
        ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.FAILED)
        raise


class _Reporter:
    """Turns the ML library's per-step events into job progress (throttled: one
    UPDATE per second at most) and log lines (one per validation)."""

    def __init__(self, job_id: int, label: str) -> None:
        self.job_id = job_id
        self.label = label
        self.last = 0.0

    def __call__(self, event: Any) -> None:
        label = "pretraining" if event.phase == "pretrain" else self.label
        if event.phase == "validate":
            loss = f"{event.loss:.4f}" if event.loss is not None else "n/a"
            job_log(job_id=self.job_id, line=f"{label}: epoch {event.epoch} validation loss {loss}")
            return
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S and event.step < event.total_steps:
            return
        self.last = now
        eta = event.eta_s
        eta_text = format_duration(timedelta(seconds=eta)) if eta is not None else "?"
        message = (
            f"{label}: step {event.step}/{event.total_steps}, epoch {event.epoch}, "
            f"loss {event.loss:.4f}, ETA {eta_text}"
        )
        job_progress(job_id=self.job_id, done=event.step, total=event.total_steps, message=message)


def _train(job: Job, version: ModelVersion) -> dict[str, Any]:
    from inference.ml.bert import TrainConfig, get_preset

    params = job.params
    modality = version.modality
    root = version_dir(modality.code, version.pk)
    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob(".*.partial*"):  # staging directories of a worker that died
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
    data = _snapshot(job, version, root, params)
    preset = get_preset(params["preset"])
    config = TrainConfig(epochs=params["epochs"], patience=3, max_steps=params.get("max_steps", 0))
    mlm_config = TrainConfig(
        epochs=params["mlm_epochs"], learning_rate=1e-3, patience=1, max_steps=params.get("max_steps", 0)
    )
    encoder_dir = Path(params["init_checkpoint"]) if params.get("init_checkpoint") else None
    model_dir = root / MODEL_DIR
    if params.get("recipe", RECIPE_FIRST_TOKENS) == RECIPE_WINDOWS:
        _recipe(job, version, root, model_dir, data, encoder_dir, params)
        return _register(job, version, root, model_dir, config, mlm_config, params)
    if params.get("pretrain"):
        encoder_dir = _pretrain(job, root, data, preset, mlm_config, encoder_dir, params) or encoder_dir
    _finetune(job, model_dir, data, preset, config, encoder_dir, params)
    return _register(job, version, root, model_dir, config, mlm_config, params)


def _snapshot(job: Job, version: ModelVersion, root: Path, params: dict[str, Any]) -> TrainingData:
    path = root / SNAPSHOT_FILE
    if version.data_snapshot_sha256 and path.exists():
        job_log(job_id=job.pk, line="resuming: the frozen data snapshot is reused (checksum verified)")
        return snapshot_read(path, sha256=version.data_snapshot_sha256)
    job_progress(job_id=job.pk, done=0, message="assembling training data")
    data = training_data_build(
        version.modality,
        label_sources=params["label_sources"],
        weak_mode=params["weak_mode"],
        pretrain=params.get("pretrain", False),
    )
    sha = snapshot_write(path, data)
    version.data_snapshot_path = str(path.relative_to(storage_root()))
    version.data_snapshot_sha256 = sha
    version.keys = data.keys
    version.label_sources = data.label_sources
    version.data_counts = data.counts
    version.save(
        update_fields=["data_snapshot_path", "data_snapshot_sha256", "keys", "label_sources", "data_counts"]
    )
    counts = ", ".join(f"{k} {v}" for k, v in data.counts.items())
    job_log(job_id=job.pk, line=f"training data frozen ({counts}); sha256 {sha[:12]}…")
    return data


def _pretrain(
    job: Job,
    root: Path,
    data: TrainingData,
    preset: Any,
    config: Any,
    init_checkpoint: Path | None,
    params: dict[str, Any],
) -> Path | None:
    from inference.ml.bert import pretrain_mlm
    from inference.ml.bert.pretrain import PRETRAIN_FILE

    mlm_dir = root / MLM_DIR
    if (mlm_dir / PRETRAIN_FILE).exists():
        job_log(job_id=job.pk, line="resuming: masked-LM checkpoint already complete")
        return mlm_dir
    texts = [text for _, text in report_texts(data.pretrain_report_ids)]
    if len(texts) < 20:
        job_log(job_id=job.pk, line=f"masked-LM pretraining skipped: only {len(texts)} unlabelled reports")
        return None
    job_log(job_id=job.pk, line=f"masked-LM pretraining on {len(texts)} unlabelled reports")
    result = pretrain_mlm(
        texts,
        preset=preset,
        out_dir=mlm_dir,
        config=config,
        init_checkpoint=init_checkpoint,
        morphemes=params.get("morphemes", False),
        progress=_Reporter(job.pk, "pretraining"),
    )
    job_log(
        job_id=job.pk,
        line=f"pretraining done: best validation loss {result.best_val_loss:.4f}, epoch {result.best_epoch}",
    )
    return mlm_dir


def _recipe(
    job: Job,
    version: ModelVersion,
    root: Path,
    model_dir: Path,
    data: TrainingData,
    init_checkpoint: Path | None,
    params: dict[str, Any],
) -> None:
    """The windows recipe (inference/ml/bert/recipe.py): MLM on every imported report
    outside the held-out set (labelled ones included) when the request pretrains, then
    fine-tuning on gold + weak (+ approved) with window-level targets from the modality's
    rule engine. Its MLM checkpoint and per-epoch fine-tuning checkpoint live in the
    version's directory, so a redelivered job resumes where the worker died."""
    from inference.ml.bert.artifacts import MANIFEST
    from inference.ml.bert.counterfactuals import engine_counterfactuals
    from inference.ml.bert.recipe import UNLABELLED, RecipeConfig, RecipeReport, engine_labeller, train_recipe

    if (model_dir / MANIFEST).exists():
        job_log(job_id=job.pk, line="resuming: the classifier was already saved")
        return
    texts = dict(report_texts(data.report_ids))
    missing = len(data.report_ids) - len(texts)
    if missing:
        job_log(job_id=job.pk, line=f"{missing} reports of the snapshot were deleted since")
    reports = [
        RecipeReport(str(rid), texts[rid], source, frozenset(keys))
        for rid, source, keys in zip(data.report_ids, data.sources, data.key_sets, strict=True)
        if rid in texts
    ]
    pretrain = bool(params.get("pretrain"))
    if pretrain:
        reports += [
            RecipeReport(str(rid), text, UNLABELLED) for rid, text in report_texts(data.pretrain_report_ids)
        ]
    config = RecipeConfig(
        preset=params["preset"],
        epochs=params["epochs"],
        mlm_epochs=params["mlm_epochs"] if pretrain else 0,
        max_steps=params.get("max_steps", 0),
        morphemes=bool(params.get("morphemes", False)),
        members=int(params.get("members", 1)),  # a job queued before members existed: one
    )
    job_log(
        job_id=job.pk, line=f"fine-tuning (windows recipe) on {len(reports)} reports, {len(data.keys)} keys"
    )
    engine = _engine(version.modality)
    train_recipe(
        reports,
        keys=data.keys,
        out_dir=model_dir,
        work_dir=root,
        labeller=engine_labeller(engine) if engine is not None else None,
        counterfactuals=(
            engine_counterfactuals(engine, texts=[r.text for r in reports if r.source != UNLABELLED])
            if engine is not None
            else None
        ),
        config=config,
        init_checkpoint=init_checkpoint,
        progress=_Reporter(job.pk, "fine-tuning"),
        log=lambda text: job_log(job_id=job.pk, line=text),
        data_snapshot={"modality": data.modality, "label_sources": data.label_sources, "counts": data.counts},
    )


def _engine(modality: Modality) -> Any:
    """The modality's rule engine: the recipe's window labeller and the source of its
    counterfactual sentences; None (report-level targets only, no counterfactuals) when
    the modality's schema has no engine."""
    from inference.services.stage2_modes.combined import modality_engine

    try:
        return modality_engine(modality)
    except Exception:  # a schema the engine cannot read: the recipe still trains, report level
        return None


def _finetune(
    job: Job,
    model_dir: Path,
    data: TrainingData,
    preset: Any,
    config: Any,
    encoder_dir: Path | None,
    params: dict[str, Any],
) -> None:
    from inference.ml.bert import LabelledSet, finetune
    from inference.ml.bert.artifacts import MANIFEST
    from inference.ml.bert.data import label_matrix

    if (model_dir / MANIFEST).exists():
        job_log(job_id=job.pk, line="resuming: the classifier was already saved")
        return
    texts = dict(report_texts(data.report_ids))
    keep = [i for i, rid in enumerate(data.report_ids) if rid in texts]
    if len(keep) < len(data.report_ids):
        job_log(
            job_id=job.pk,
            line=f"{len(data.report_ids) - len(keep)} reports of the snapshot were deleted since",
        )
    labelled = LabelledSet(
        texts=[texts[data.report_ids[i]] for i in keep],
        labels=label_matrix([set(data.key_sets[i]) for i in keep], data.keys),
        sources=[data.sources[i] for i in keep],
        ids=[str(data.report_ids[i]) for i in keep],
    )
    job_log(job_id=job.pk, line=f"fine-tuning on {len(labelled)} reports, {len(data.keys)} keys")
    finetune(
        labelled,
        keys=data.keys,
        preset=preset,
        out_dir=model_dir,
        config=config,
        encoder_dir=encoder_dir,
        morphemes=params.get("morphemes", False),
        progress=_Reporter(job.pk, "fine-tuning"),
        data_snapshot={"modality": data.modality, "label_sources": data.label_sources, "counts": data.counts},
    )


def _register(
    job: Job,
    version: ModelVersion,
    root: Path,
    model_dir: Path,
    config: Any,
    mlm_config: Any,
    params: dict[str, Any],
) -> dict[str, Any]:
    from inference.ml.bert import read_curves
    from inference.ml.bert.artifacts import read_json
    from inference.ml.bert.pretrain import PRETRAIN_FILE
    from inference.services.stage1_inference import heldout_predict, predictor_for

    version.artifact_path = str(model_dir.relative_to(storage_root()))
    predictor = predictor_for(version)
    manifest = predictor.manifest
    curves: dict[str, Any] = {"finetune": _thin(read_curves(model_dir).to_dict())}
    if (root / MLM_DIR / PRETRAIN_FILE).exists():
        curves["pretrain"] = _thin(read_json(root / MLM_DIR / PRETRAIN_FILE).get("curves", {}))
    version.keys = list(manifest.keys)
    version.thresholds = dict(manifest.thresholds)
    version.code_version = (manifest.code_version or "")[:64]
    version.curves = curves
    version.config = {
        "request": {k: v for k, v in params.items() if k != "model_version_id"},
        "preset": manifest.preset,
        "train_config": manifest.train_config,
        "mlm_config": mlm_config.to_dict() if (root / MLM_DIR).exists() else None,
        "encoder": manifest.encoder,
        "tokenizer": manifest.tokenizer,
        "max_len": manifest.max_len,
    }
    version.save()
    job_log(job_id=job.pk, line="evaluating on the held-out gold set")
    metrics = heldout_metrics(version, job_id=job.pk)
    metrics["validation"] = manifest.metrics.get("validation")
    metrics["n_validation"] = manifest.metrics.get("n_validation", 0)
    metrics["training"] = manifest.training
    version.metrics = metrics
    version.status = ModelVersion.Status.READY
    version.trained_at = timezone.now()
    version.save(update_fields=["metrics", "status", "trained_at"])
    _baseline_heldout(job, version, heldout_predict)
    macro = (metrics.get("heldout") or {}).get("macro", {}).get("f1")
    job_log(
        job_id=job.pk,
        line=f"{version.name} ready; held-out macro F1 {macro if macro is None else round(macro, 4)}",
    )
    return {
        "model_version": version.pk,
        "name": version.name,
        "n_heldout": metrics["n_heldout"],
        "heldout_macro_f1": macro,
        "data_counts": version.data_counts,
    }


def heldout_metrics(version: ModelVersion, *, job_id: int | None = None) -> dict[str, Any]:
    """Predict the held-out gold set with `version` (stored, idempotent) and score
    it with the method's metrics. Empty held-out set: metrics are None, n_heldout 0."""
    from inference.ml.metrics import entity_key_metrics
    from inference.services.stage1_inference import heldout_predict

    ids = heldout_predict(version, job_id=job_id)
    stored = dict(
        Stage1Prediction.objects.filter(model_version=version, report_id__in=ids).values_list(
            "report_id", "predicted_keys"
        )
    )
    gold = gold_key_sets(ids)
    ids = [i for i in ids if i in stored and i in gold]
    if not ids:
        return {"heldout": None, "n_heldout": 0}
    scores = entity_key_metrics([gold[i] for i in ids], [set(stored[i]) for i in ids], version.keys)
    return {"heldout": scores.to_dict(), "n_heldout": len(ids)}


def _baseline_heldout(job: Job, version: ModelVersion, heldout_predict: Any) -> None:
    """Give the active version predictions on the same held-out reports, so the
    comparison before promotion is report by report on one set."""
    active = model_version_active(modality=version.modality)
    if active is None or active.pk == version.pk:
        return
    try:
        heldout_predict(active, job_id=job.pk)
    except Exception as exc:  # the new version is fine; only the comparison is poorer
        job_log(job_id=job.pk, line=f"could not complete {active.name}'s held-out predictions: {exc}")


def _thin(curves: dict[str, Any]) -> dict[str, Any]:
    """At most MAX_CURVE_POINTS loss points per phase (every k-th step, last kept)."""
    steps = list(curves.get("steps", []))
    if len(steps) > MAX_CURVE_POINTS:
        k = math.ceil(len(steps) / MAX_CURVE_POINTS)
        steps = steps[::k] + ([steps[-1]] if (len(steps) - 1) % k else [])
    return {"steps": steps, "epochs": list(curves.get("epochs", []))}
