"""Seed the rule engine's default rules (inference/ml/defaults/default_rules.json):
assertion triggers and word lists, so that admins see and extend them."""

from django.db import migrations


def seed_default_rules(apps, schema_editor):
    from annotations.services.rules import rules_seed

    rules_seed(
        trigger_model=apps.get_model("annotations", "AssertionTrigger"),
        entry_model=apps.get_model("annotations", "RuleEntry"),
    )


class Migration(migrations.Migration):
    dependencies = [("annotations", "0005_assertion_rules")]

    operations = [migrations.RunPython(seed_default_rules, migrations.RunPython.noop)]
