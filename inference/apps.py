from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = "Models and inference"

    def ready(self) -> None:
        # The annotation queue's "most uncertain first" order reads stage 1's stored
        # probabilities; this import stays light (no torch) so start-up stays fast.
        from annotations.services.queue_order import register_uncertainty_provider
        from inference.services.stage1_registry import stage1_uncertainty

        register_uncertainty_provider(stage1_uncertainty)
