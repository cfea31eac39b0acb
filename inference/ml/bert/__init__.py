"""Stage 1 of the method: a BERT multi-label entity-key classifier, as a plain library.

    pretrained = pretrain_mlm(unlabelled_texts, preset=get_preset("small"), out_dir=...)
    result = finetune(LabelledSet(texts, labels, sources), keys=keys, preset=get_preset("small"),
                      encoder_dir=pretrained.out_dir, out_dir=..., progress=callback)
    predictions = Stage1Predictor.load(result.out_dir).predict(texts)

No Django here: the inference app wraps these functions in ModelVersion rows and Celery
tasks. Modules: config (presets, hyper-parameters, seeds), data (encoding, batching,
masking), model (encoder + attention pooling + dense head), train (the shared step loop,
progress and cancellation), pretrain, finetune, predict, artifacts (save/load).
"""

from .artifacts import Manifest, ModelLoadError, load_artifact, read_curves, read_data_snapshot
from .config import PRESETS, BertPreset, TrainConfig, get_preset, set_seed
from .finetune import FinetuneResult, LabelledSet, choose_thresholds, finetune
from .predict import KeyPrediction, Stage1Predictor
from .pretrain import PretrainResult, pretrain_mlm
from .train import ProgressCallback, ProgressEvent, TrainingCurves

__all__ = [
    "PRESETS",
    "BertPreset",
    "FinetuneResult",
    "KeyPrediction",
    "LabelledSet",
    "Manifest",
    "ModelLoadError",
    "PretrainResult",
    "ProgressCallback",
    "ProgressEvent",
    "Stage1Predictor",
    "TrainConfig",
    "TrainingCurves",
    "choose_thresholds",
    "finetune",
    "get_preset",
    "load_artifact",
    "pretrain_mlm",
    "read_curves",
    "read_data_snapshot",
    "set_seed",
]
