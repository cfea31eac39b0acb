from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = "Models and inference"

    def ready(self) -> None:
        # Imported here, not at module level: apps.py loads before the models exist.
        from annotations.services.queue_order import register_uncertainty_provider
        from annotations.services.weak_labels import register_engine_provider
        from inference.selectors import model_names_active
        from inference.services.evaluation_modes import register_evaluation_modes
        from inference.services.stage1_registry import stage1_uncertainty
        from inference.services.stage2_modes.builtin import register_builtin_modes
        from inference.services.stage2_modes.combined import modality_engine
        from inference.signals import training_version_follows_its_job
        from jobs.services import job_finished

        # The annotation queue's "most uncertain first" order reads stage 1's stored
        # probabilities; this import stays light (no torch) so start-up stays fast.
        register_uncertainty_provider(stage1_uncertainty, active_models=model_names_active)
        # The stage 2 modes first: the evaluation registry takes its stage 2 modes from them.
        register_builtin_modes()
        # Weak labelling's "rule_engine" mode runs the same engine as the combined mode.
        register_engine_provider(modality_engine)
        register_evaluation_modes()
        job_finished.connect(training_version_follows_its_job, dispatch_uid="training-version-follows-job")
