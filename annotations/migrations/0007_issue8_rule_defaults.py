"""Bring the rule engine's defaults added for issue 8 into databases migrated before
them: lexicon values (general radiology wording the engine missed on real reports),
assertion triggers, wider windows for hedges, and rule word lists.

The lists are frozen here, as a data migration's data must be: a fresh database gets
the same rows from 0003/0006 (which read the current JSON files), so this adds nothing
there. An admin's edits are kept: a value or entry that exists is left alone, and a
trigger's window changes only where it still has the old default.
"""

from django.db import migrations

# (modality code, key name, text, kind)
VALUES = [
    ("chest_ct", "consolidation", "consolidative area", "keyword"),
    ("chest_ct", "consolidation", "consolidative areas", "keyword"),
    ("chest_ct", "consolidation", "consolidative density", "keyword"),
    ("chest_ct", "consolidation", "consolidative densities", "keyword"),
    ("chest_ct", "consolidation", "consolidative density increase", "keyword"),
    ("chest_ct", "consolidation", "consolidative opacities", "keyword"),
    ("chest_ct", "consolidation", "consolidative changes", "keyword"),
    ("chest_ct", "consolidation", "consolidated area", "keyword"),
    ("chest_ct", "consolidation", "consolidated areas", "keyword"),
    ("chest_ct", "consolidation", "consolidated lung", "keyword"),
    ("chest_ct", "consolidation", "consolidated segment", "keyword"),
    ("chest_ct", "consolidation", "consolidated segments", "keyword"),
    ("chest_ct", "consolidation", "consolidated lobe", "keyword"),
    ("chest_ct", "consolidation", "lobar consolidation", "keyword"),
    ("chest_ct", "consolidation", "air-space opacity", "keyword"),
    ("chest_ct", "consolidation", "airspace opacity", "keyword"),
    ("chest_ct", "consolidation", "airspace opacities", "keyword"),
    ("chest_ct", "consolidation", "경화성 음영", "keyword"),
    ("chest_ct", "bronchial wall thickening", "peribronchovascular thickening", "keyword"),
    ("chest_ct", "bronchial wall thickening", "bronchial thickening", "keyword"),
    ("chest_ct", "bronchial wall thickening", "thickened bronchi", "keyword"),
    ("chest_ct", "bronchial wall thickening", "bronchial wall thickness increase", "keyword"),
    ("chest_ct", "bronchial wall thickening", "기관지 벽 비후", "keyword"),
    ("chest_ct", "bronchial wall thickening", "기관지벽 두꺼워짐", "keyword"),
    (
        "chest_ct",
        "bronchial wall thickening",
        "\\bperibronch(?:ial|ovascular)\\s+(?:(?:wall|walls|sheath|soft[\\s-]+tissue)\\s+)?(?:thickening|thickenings|thickness(?:\\s+increases?)?)\\b",
        "regex",
    ),
    (
        "chest_ct",
        "bronchial wall thickening",
        "\\bthicken(?:ing|ings|ed)\\s+(?:of|in|along)\\s+(?:the\\s+)?(?:\\w+\\s+){0,2}?(?:peri)?bronch(?:ial|ovascular)\\s+(?:wall|walls|sheath|sheaths)\\b",
        "regex",
    ),
    (
        "chest_ct",
        "bronchial wall thickening",
        "\\bincrease(?:d|s)?\\s+(?:in\\s+)?(?:the\\s+)?(?:\\w+\\s+){0,2}?(?:peri)?bronchial\\s+(?:wall\\s+)?thickness\\b",
        "regex",
    ),
    ("chest_ct", "interstitial thickening", "interseptal thickening", "keyword"),
    ("chest_ct", "interstitial thickening", "intralobular septal thickening", "keyword"),
    ("chest_ct", "interstitial thickening", "interlobular septal thickness increase", "keyword"),
    ("chest_ct", "interstitial thickening", "thickened interlobular septa", "keyword"),
    ("chest_ct", "interstitial thickening", "thickened septa", "keyword"),
    ("chest_ct", "interstitial thickening", "interstitial prominence", "keyword"),
    ("chest_ct", "interstitial thickening", "간질성 비후", "keyword"),
    (
        "chest_ct",
        "interstitial thickening",
        "\\b(?:inter|intra)(?:lobular|lobar|stitial)(?:[\\s-]+(?:and|or|interlobular|intralobular|interstitial))*[\\s-]+sept(?:al|a)\\s+(?:thickness(?:\\s+increases?)?|thickenings?)\\b",
        "regex",
    ),
    (
        "chest_ct",
        "interstitial thickening",
        "\\bthicken(?:ing|ings|ed)\\s+(?:of|in)\\s+(?:the\\s+)?(?:\\w+\\s+){0,2}?(?:interlobular\\s+)?(?:septa|septae|interstitium|interstitial\\s+(?:elements|structures|markings))\\b",
        "regex",
    ),
    ("chest_ct", "fibrosis", "sequela", "keyword"),
    ("chest_ct", "fibrosis", "sequelae", "keyword"),
    ("chest_ct", "fibrosis", "sequela changes", "keyword"),
    ("chest_ct", "fibrosis", "sequelae changes", "keyword"),
    ("chest_ct", "fibrosis", "sequelae change", "keyword"),
    ("chest_ct", "fibrosis", "pleuroparenchymal sequelae", "keyword"),
    ("chest_ct", "fibrosis", "postinflammatory sequelae", "keyword"),
    ("chest_ct", "fibrosis", "post-inflammatory sequelae", "keyword"),
    ("chest_ct", "fibrosis", "parenchymal band", "keyword"),
    ("chest_ct", "fibrosis", "parenchymal bands", "keyword"),
    ("chest_ct", "fibrosis", "pleuroparenchymal band", "keyword"),
    ("chest_ct", "fibrosis", "pleuroparenchymal bands", "keyword"),
    ("chest_ct", "fibrosis", "fibroatelectasis", "keyword"),
    ("chest_ct", "fibrosis", "fibroatelectatic", "keyword"),
    ("chest_ct", "fibrosis", "fibroatelectatic change", "keyword"),
    ("chest_ct", "fibrosis", "fibroatelectatic changes", "keyword"),
    ("chest_ct", "fibrosis", "fibrotic strand", "keyword"),
    ("chest_ct", "fibrosis", "fibrotic strands", "keyword"),
    ("chest_ct", "fibrosis", "fibrous strands", "keyword"),
    ("chest_ct", "fibrosis", "cicatricial", "keyword"),
    ("chest_ct", "fibrosis", "cicatricial change", "keyword"),
    ("chest_ct", "fibrosis", "cicatricial changes", "keyword"),
    ("chest_ct", "fibrosis", "cicatrization", "keyword"),
    ("chest_ct", "fibrosis", "scar", "keyword"),
    ("chest_ct", "fibrosis", "scars", "keyword"),
    ("chest_ct", "fibrosis", "scar tissue", "keyword"),
    ("chest_ct", "fibrosis", "fibronodular", "keyword"),
    ("chest_ct", "fibrosis", "fibrocalcific", "keyword"),
    ("chest_ct", "fibrosis", "fibrocavitary", "keyword"),
    ("chest_ct", "fibrosis", "honeycomb lung", "keyword"),
    ("chest_ct", "fibrosis", "반흔", "keyword"),
    ("chest_ct", "fibrosis", "반흔성 변화", "keyword"),
    ("chest_ct", "fibrosis", "섬유화 반흔", "keyword"),
    ("chest_ct", "fibrosis", "섬유성 띠", "keyword"),
    ("chest_ct", "fibrosis", "fibro atelectasis", "keyword"),
    ("chest_ct", "fibrosis", "fibro-atelectasis", "keyword"),
    ("chest_ct", "fibrosis", "fibro-atelectatic", "keyword"),
    ("chest_ct", "fibrosis", "fibro atelectatic", "keyword"),
    ("chest_ct", "fibrosis", "fibrotic atelectasis", "keyword"),
    ("chest_ct", "pleural thickening", "pleural nodule", "keyword"),
    ("chest_ct", "pleural thickening", "pleural nodules", "keyword"),
    ("chest_ct", "pleural thickening", "pleural nodularity", "keyword"),
    ("chest_ct", "pleural thickening", "nodular pleural thickening", "keyword"),
]
# (phrase, category, direction, window, language)
TRIGGERS = [
    ("cannot be evaluated", "NEG", "BWD", 6, "en"),
    ("could not be evaluated", "NEG", "BWD", 6, "en"),
    ("cannot be assessed", "NEG", "BWD", 6, "en"),
    ("could not be assessed", "NEG", "BWD", 6, "en"),
    ("not assessable", "NEG", "BWD", 6, "en"),
    ("not evaluable", "NEG", "BWD", 6, "en"),
    ("previously observed as", "HIST", "FWD", 3, "en"),
    ("previously seen as", "HIST", "FWD", 3, "en"),
    ("previously described as", "HIST", "FWD", 3, "en"),
]
# (phrase, category, direction, old window, new window)
WINDOWS = [
    ("cannot be excluded", "UNC", "BWD", None, 16),
    ("can not be excluded", "UNC", "BWD", None, 16),
    ("cannot be ruled out", "UNC", "BWD", None, 16),
    ("could not be excluded", "UNC", "BWD", None, 16),
    ("could not be ruled out", "UNC", "BWD", None, 16),
]
# (rule list, text)
ENTRIES = [
    ("outside_organs", "humerus"),
    ("outside_organs", "humeral"),
    ("outside_organs", "clavicle"),
    ("outside_organs", "clavicular"),
    ("outside_organs", "scapula"),
    ("outside_organs", "sternum"),
    ("outside_organs", "sternal"),
    ("outside_organs", "shoulder"),
    ("outside_organs", "trachea"),
    ("outside_organs", "tracheal"),
    ("outside_organs", "vertebral body"),
    ("outside_organs", "vertebral bodies"),
    ("outside_organs", "spine"),
    ("outside_organs", "spinal"),
    ("outside_organs", "fracture"),
    ("modified_heads", "density"),
    ("modified_heads", "densities"),
    ("modified_heads", "calcification"),
    ("modified_heads", "calcifications"),
    ("modified_heads", "area"),
    ("modified_heads", "areas"),
    ("modified_heads", "consolidative"),
    ("modified_heads", "dens"),
]


LIST_KIND = {
    "outside_organs": "outside_organ",
    "inside_words": "inside_word",
    "anaphora": "anaphor",
    "modified_heads": "modified_head",
    "extrapulmonary_locations": "extrapulmonary",
}


def add_defaults(apps, schema_editor):
    Modality = apps.get_model("annotations", "Modality")
    EntityKey = apps.get_model("annotations", "EntityKey")
    EntityValue = apps.get_model("annotations", "EntityValue")
    AssertionTrigger = apps.get_model("annotations", "AssertionTrigger")
    RuleEntry = apps.get_model("annotations", "RuleEntry")
    changed = 0
    for code, name, text, kind in VALUES:
        key = EntityKey.objects.filter(entity_type__modality__code=code, name=name).first()
        if key is not None:
            changed += EntityValue.objects.get_or_create(key=key, text=text, kind=kind)[1]
    if not AssertionTrigger.objects.exists():
        return  # rules never seeded (0006 seeds the current defaults); nothing to bring forward
    for phrase, category, direction, window, language in TRIGGERS:
        changed += AssertionTrigger.objects.get_or_create(
            phrase=phrase,
            category=category,
            direction=direction,
            defaults={"window": window, "language": language, "is_default": True},
        )[1]
    for phrase, category, direction, old, new in WINDOWS:
        changed += AssertionTrigger.objects.filter(
            phrase=phrase, category=category, direction=direction, window=old, is_default=True
        ).update(window=new)
    for name, text in ENTRIES:
        changed += RuleEntry.objects.get_or_create(
            kind=LIST_KIND[name], group="", text=text, defaults={"value": "", "is_default": True}
        )[1]
    if changed:
        # What the rules extract changed: weak labels and engine caches key on this.
        for modality in Modality.objects.all():
            modality.schema_version += 1
            modality.save(update_fields=["schema_version"])


class Migration(migrations.Migration):
    dependencies = [("annotations", "0006_default_rules")]

    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
