"""Bring issue 14's location conventions (LABELLING.md section 4) into databases migrated
before them: location words (zones are not lobes; apex, segment, filler, referring and verb
words; the "parents" tree of the one location normalisation; the pleura and
mediastinum/hilum only for the lesions that may have them; phrases that are not
locations), lexicon values (fibroatelectasis is also atelectasis, pleural surface
thickening, peribronchovascular thickening also interstitial), four negation triggers,
and what goes: "both lower lobes" and the like as values of `both lungs` (they are the
lobes of each side, read by the location grammar), upper lung zones as lobes, and the
modified heads that R3 makes nodules ("nodular density", "nodular infiltrates").

Frozen lists, as a data migration's data must be: a fresh database gets the current
defaults from 0003/0006, so this changes nothing there. Only default rows are removed;
a value or entry an admin added is kept. The schema version moves only when something
changed.
"""

from django.db import migrations

VALUES_ADDED = [
    ("chest_ct", "atelectasis", "band atelectasis", "keyword"),
    ("chest_ct", "atelectasis", "band-like atelectasis", "keyword"),
    ("chest_ct", "atelectasis", "collapse", "keyword"),
    ("chest_ct", "atelectasis", "collapsed lobe", "keyword"),
    ("chest_ct", "atelectasis", "collapsed segment", "keyword"),
    ("chest_ct", "atelectasis", "compression atelectasis", "keyword"),
    ("chest_ct", "atelectasis", "compressive atelectasis", "keyword"),
    ("chest_ct", "atelectasis", "dystelectasis", "keyword"),
    ("chest_ct", "atelectasis", "fibro atelectasis", "keyword"),
    ("chest_ct", "atelectasis", "fibro-atelectasis", "keyword"),
    ("chest_ct", "atelectasis", "fibroatelectasis", "keyword"),
    ("chest_ct", "atelectasis", "fibroatelectatic", "keyword"),
    ("chest_ct", "atelectasis", "fibroatelectatic change", "keyword"),
    ("chest_ct", "atelectasis", "fibroatelectatic changes", "keyword"),
    ("chest_ct", "atelectasis", "passive atelectasis", "keyword"),
    ("chest_ct", "atelectasis", "platelike atelectasis", "keyword"),
    ("chest_ct", "interstitial thickening", "peribronchovascular interstitial thickening", "keyword"),
    ("chest_ct", "interstitial thickening", "peribronchovascular interstitium thickening", "keyword"),
    ("chest_ct", "interstitial thickening", "peribronchovascular thickening", "keyword"),
    ("chest_ct", "interstitial thickening", "reticular pattern", "keyword"),
    ("chest_ct", "interstitial thickening", "reticular thickening", "keyword"),
    ("chest_ct", "interstitial thickening", "reticulonodular pattern", "keyword"),
    ("chest_ct", "left upper lobe", "apicoposterior", "keyword"),
    ("chest_ct", "left upper lobe", "apicoposterior segment", "keyword"),
    ("chest_ct", "pleural thickening", "pleural face thickening", "keyword"),
    ("chest_ct", "pleural thickening", "pleural facial thickening", "keyword"),
    ("chest_ct", "pleural thickening", "pleural surface thickening", "keyword"),
    ("chest_ct", "pleural thickening", "pleural surface thickenings", "keyword"),
    ("chest_ct", "pleural thickening", "thickening of the pleura", "keyword"),
    ("chest_ct", "pleural thickening", "thickening of the pleural face", "keyword"),
    ("chest_ct", "pleural thickening", "thickening of the pleural surface", "keyword"),
    ("chest_ct", "pleural thickening", "thickening of the pleural surfaces", "keyword"),
    ("chest_ct", "pleural thickening", "thickenings of the pleural surfaces", "keyword"),
]
VALUES_REMOVED = [
    ("chest_ct", "both lungs", "bilateral lower lobes", "keyword"),
    ("chest_ct", "both lungs", "bilateral upper lobes", "keyword"),
    ("chest_ct", "both lungs", "bilaterally", "keyword"),
    ("chest_ct", "both lungs", "both lower lobes", "keyword"),
    ("chest_ct", "both lungs", "both upper lobes", "keyword"),
    ("chest_ct", "left upper lobe", "left upper lung zone", "keyword"),
    ("chest_ct", "right upper lobe", "right upper lung zone", "keyword"),
]
ENTRIES_ADDED = [
    ("location_word", "apex", "apex", ""),
    ("location_word", "apex", "apexes", ""),
    ("location_word", "apex", "apical", ""),
    ("location_word", "apex", "apical area", ""),
    ("location_word", "apex", "apical areas", ""),
    ("location_word", "apex", "apical level", ""),
    ("location_word", "apex", "apical part", ""),
    ("location_word", "apex", "apical parts", ""),
    ("location_word", "apex", "apical portion", ""),
    ("location_word", "apex", "apical portions", ""),
    ("location_word", "apex", "apical region", ""),
    ("location_word", "apex", "apical segment", ""),
    ("location_word", "apex", "apical segments", ""),
    ("location_word", "apex", "apices", ""),
    ("location_word", "apex", "폐첨부", ""),
    ("location_word", "base", "basal area", ""),
    ("location_word", "base", "basal areas", ""),
    ("location_word", "base", "basal level", ""),
    ("location_word", "base", "basal part", ""),
    ("location_word", "base", "basal parts", ""),
    ("location_word", "base", "basal portion", ""),
    ("location_word", "base", "basal portions", ""),
    ("location_word", "base", "basal region", ""),
    ("location_word", "base", "basal regions", ""),
    ("location_word", "base", "basal sections", ""),
    ("location_word", "base", "basal segment", ""),
    ("location_word", "base", "basal segments", ""),
    ("location_word", "base", "basals", ""),
    ("location_word", "base", "lung basals", ""),
    ("location_word", "blocked_by_following", "-based", ""),
    ("location_word", "blocked_by_following", "based", ""),
    ("location_word", "blocked_by_following", "side of", ""),
    ("location_word", "blocked_by_preceding", "abutting the", ""),
    ("location_word", "blocked_by_preceding", "adjacent to", ""),
    ("location_word", "blocked_by_preceding", "adjacent to the", ""),
    ("location_word", "blocked_by_preceding", "contacting the", ""),
    ("location_word", "blocked_by_preceding", "evaluation of", ""),
    ("location_word", "blocked_by_preceding", "evaluation of the", ""),
    ("location_word", "blocked_by_preceding", "examination of", ""),
    ("location_word", "blocked_by_preceding", "examination of the", ""),
    ("location_word", "blocked_by_preceding", "extending to the", ""),
    ("location_word", "blocked_by_preceding", "in contact with the", ""),
    ("location_word", "blocked_by_preceding", "reaching the", ""),
    ("location_word", "filler", "aerated", ""),
    ("location_word", "filler", "imaged", ""),
    ("location_word", "filler", "included", ""),
    ("location_word", "filler", "visible", ""),
    ("location_word", "filler", "visualized", ""),
    ("location_word", "only_for", "mediastinum/hilum", "mass"),
    ("location_word", "only_for", "pleura", "nodule, mass"),
    ("location_word", "parents", "left lower lobe", "left lung"),
    ("location_word", "parents", "left lung", "both lungs"),
    ("location_word", "parents", "left upper lobe", "left lung"),
    ("location_word", "parents", "lingula", "left lung"),
    ("location_word", "parents", "right lower lobe", "right lung"),
    ("location_word", "parents", "right lung", "both lungs"),
    ("location_word", "parents", "right middle lobe", "right lung"),
    ("location_word", "parents", "right upper lobe", "right lung"),
    ("location_word", "referring", "accompanying it", ""),
    ("location_word", "referring", "accompanying them", ""),
    ("location_word", "referring", "adjacent", ""),
    ("location_word", "referring", "adjacent to it", ""),
    ("location_word", "referring", "adjacent to them", ""),
    ("location_word", "referring", "around it", ""),
    ("location_word", "referring", "around the lesion", ""),
    ("location_word", "referring", "around the nodule", ""),
    ("location_word", "referring", "around the nodules", ""),
    ("location_word", "referring", "around them", ""),
    ("location_word", "referring", "around these", ""),
    ("location_word", "referring", "around this", ""),
    ("location_word", "referring", "at the same level", ""),
    ("location_word", "referring", "at this level", ""),
    ("location_word", "referring", "in its neighborhood", ""),
    ("location_word", "referring", "in its neighbourhood", ""),
    ("location_word", "referring", "in its vicinity", ""),
    ("location_word", "referring", "in the same area", ""),
    ("location_word", "referring", "in the same localization", ""),
    ("location_word", "referring", "in the same region", ""),
    ("location_word", "referring", "in the vicinity", ""),
    ("location_word", "referring", "in their neighborhood", ""),
    ("location_word", "referring", "in their neighbourhood", ""),
    ("location_word", "referring", "in their vicinity", ""),
    ("location_word", "referring", "in this localization", ""),
    ("location_word", "referring", "its vicinity", ""),
    ("location_word", "referring", "surrounding it", ""),
    ("location_word", "referring", "surrounding them", ""),
    ("location_word", "referring", "within it", ""),
    ("location_word", "referring", "within the consolidation", ""),
    ("location_word", "referring", "within them", ""),
    ("location_word", "referring", "주변", ""),
    ("location_word", "referring", "주위", ""),
    ("location_word", "segment", "anterior", ""),
    ("location_word", "segment", "anterobasal", ""),
    ("location_word", "segment", "anterolateral", ""),
    ("location_word", "segment", "anteromedial", ""),
    ("location_word", "segment", "apical", ""),
    ("location_word", "segment", "apicoposterior", ""),
    ("location_word", "segment", "basal", ""),
    ("location_word", "segment", "inferior", ""),
    ("location_word", "segment", "inferior lingular", ""),
    ("location_word", "segment", "lateral", ""),
    ("location_word", "segment", "laterobasal", ""),
    ("location_word", "segment", "medial", ""),
    ("location_word", "segment", "mediobasal", ""),
    ("location_word", "segment", "posterior", ""),
    ("location_word", "segment", "posterobasal", ""),
    ("location_word", "segment", "posterolateral", ""),
    ("location_word", "segment", "segment", ""),
    ("location_word", "segment", "segmental", ""),
    ("location_word", "segment", "segments", ""),
    ("location_word", "segment", "subsegment", ""),
    ("location_word", "segment", "subsegmental", ""),
    ("location_word", "segment", "subsegments", ""),
    ("location_word", "segment", "superior", ""),
    ("location_word", "segment", "superior lingular", ""),
    ("location_word", "verbs", "appear", ""),
    ("location_word", "verbs", "appears", ""),
    ("location_word", "verbs", "are", ""),
    ("location_word", "verbs", "are seen", ""),
    ("location_word", "verbs", "demonstrated", ""),
    ("location_word", "verbs", "detected", ""),
    ("location_word", "verbs", "identified", ""),
    ("location_word", "verbs", "is", ""),
    ("location_word", "verbs", "is seen", ""),
    ("location_word", "verbs", "noted", ""),
    ("location_word", "verbs", "observed", ""),
    ("location_word", "verbs", "present", ""),
    ("location_word", "verbs", "seen", ""),
    ("location_word", "verbs", "shown", ""),
    ("location_word", "verbs", "there are", ""),
    ("location_word", "verbs", "there is", ""),
    ("location_word", "verbs", "visualized", ""),
    ("location_word", "verbs", "was", ""),
    ("location_word", "verbs", "were", ""),
    ("location_word", "verbs", "관찰됨", ""),
    ("location_word", "verbs", "보인다", ""),
    ("location_word", "verbs", "보임", ""),
    ("location_word", "verbs", "있다", ""),
    ("location_word", "verbs", "있음", ""),
    ("location_word", "zone", "lung zone", ""),
    ("location_word", "zone", "lung zones", ""),
    ("location_word", "zone", "zone", ""),
    ("location_word", "zone", "zones", ""),
]
ENTRIES_REMOVED = [
    ("location_word", "lingula", "lingular segment", ""),
    ("location_word", "lobe", "lung zone", ""),
    ("location_word", "lobe", "lung zones", ""),
    ("location_word", "lobe", "zone", ""),
    ("location_word", "lobe", "zones", ""),
    ("modified_head", "", "area", ""),
    ("modified_head", "", "areas", ""),
    ("modified_head", "", "dens", ""),
    ("modified_head", "", "densities", ""),
    ("modified_head", "", "density", ""),
    ("modified_head", "", "ground glass", ""),
    ("modified_head", "", "ground-glass", ""),
    ("modified_head", "", "infiltrate", ""),
    ("modified_head", "", "infiltrates", ""),
    ("modified_head", "", "infiltration", ""),
    ("modified_head", "", "infiltrations", ""),
]
TRIGGERS_ADDED = [
    ("not discerned", "NEG", "BWD", 16, "en"),
    ("not distinguished", "NEG", "BWD", 16, "en"),
    ("was not distinguished", "NEG", "BWD", 16, "en"),
    ("were not distinguished", "NEG", "BWD", 16, "en"),
]


def bring_forward(apps, schema_editor):
    Modality = apps.get_model("annotations", "Modality")
    EntityKey = apps.get_model("annotations", "EntityKey")
    EntityValue = apps.get_model("annotations", "EntityValue")
    AssertionTrigger = apps.get_model("annotations", "AssertionTrigger")
    RuleEntry = apps.get_model("annotations", "RuleEntry")
    changed = 0
    for code, name, text, kind in VALUES_ADDED:
        key = EntityKey.objects.filter(entity_type__modality__code=code, name=name).first()
        if key is not None:
            changed += EntityValue.objects.get_or_create(key=key, text=text, kind=kind)[1]
    for code, name, text, kind in VALUES_REMOVED:
        removed, _ = EntityValue.objects.filter(
            key__entity_type__modality__code=code, key__name=name, text=text, kind=kind, created_by=None
        ).delete()
        changed += removed
    if AssertionTrigger.objects.exists():  # else 0006 seeds the current defaults
        for phrase, category, direction, window, language in TRIGGERS_ADDED:
            changed += AssertionTrigger.objects.get_or_create(
                phrase=phrase,
                category=category,
                direction=direction,
                defaults={"window": window, "language": language, "is_default": True},
            )[1]
        for kind, group, text, value in ENTRIES_ADDED:
            changed += RuleEntry.objects.get_or_create(
                kind=kind, group=group, text=text, defaults={"value": value, "is_default": True}
            )[1]
        for kind, group, text, _ in ENTRIES_REMOVED:
            removed, _ = RuleEntry.objects.filter(kind=kind, group=group, text=text, is_default=True).delete()
            changed += removed
    if changed:
        for modality in Modality.objects.all():
            modality.schema_version += 1
            modality.save(update_fields=["schema_version"])


class Migration(migrations.Migration):
    dependencies = [("annotations", "0007_issue8_rule_defaults")]

    operations = [migrations.RunPython(bring_forward, migrations.RunPython.noop)]
