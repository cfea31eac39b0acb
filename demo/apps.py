from django.apps import AppConfig


class DemoConfig(AppConfig):
    """No models: the demo writes its rows through the other apps' services, and
    registers its Celery task through demo/tasks.py (autodiscovered)."""

    name = "demo"
    verbose_name = "Demo corpus, setup and pipeline"
