from django.urls import path

from annotations.views import agreement, annotate, imports, queue, reports, rules, values, weak_labels

app_name = "annotations"
urlpatterns: list = [
    path("reports/", reports.report_list, name="report_list"),
    path("reports/<id:report_id>/", reports.report_detail, name="report_detail"),
    path("reports/<id:report_id>/revise/", reports.report_revise_view, name="report_revise"),
]

urlpatterns += [
    path("import/", imports.import_upload, name="import_upload"),
    path("import/<id:job_id>/", imports.import_status, name="import_status"),
    path("import/<id:job_id>/cancel/", imports.import_cancel, name="import_cancel"),
    path("import-labels/", imports.label_import_upload, name="label_import_upload"),
    path("import-labels/<id:job_id>/", imports.label_import_status, name="label_import_status"),
]

# The annotation workspace (annotators; admins for their adjudications).
urlpatterns += [
    path("queue/", queue.queue, name="queue"),
    path("assignments/<id:assignment_id>/", annotate.annotate, name="annotate"),
    path("assignments/<id:assignment_id>/mentions/", annotate.mention_create, name="mention_create"),
    path(
        "assignments/<id:assignment_id>/mentions/<id:mention_id>/",
        annotate.mention_update,
        name="mention_update",
    ),
    path(
        "assignments/<id:assignment_id>/mentions/<id:mention_id>/delete/",
        annotate.mention_delete,
        name="mention_delete",
    ),
    path(
        "assignments/<id:assignment_id>/suggestions/accept/",
        annotate.suggestions_accept,
        name="suggestions_accept",
    ),
    path("assignments/<id:assignment_id>/relations/", annotate.relation_create, name="relation_create"),
    path(
        "assignments/<id:assignment_id>/relations/<id:relation_id>/delete/",
        annotate.relation_delete,
        name="relation_delete",
    ),
    path("assignments/<id:assignment_id>/undo/", annotate.undo_restore, name="undo"),
    path("assignments/<id:assignment_id>/no-findings/", annotate.no_findings, name="no_findings"),
    path("assignments/<id:assignment_id>/submit/", annotate.submit, name="submit"),
    path("assignments/<id:assignment_id>/reopen/", annotate.reopen, name="reopen"),
]

# Admin screens of the workspace: assigning, entity values, agreement, weak labels.
urlpatterns += [
    path("assign/", queue.assign, name="assign"),
    path("assign/reorder/", queue.reorder, name="reorder"),
    path("assign/take-back/", queue.take_back, name="take_back"),
    path("values/", values.value_manager, name="values"),
    path("values/preview/", values.value_preview, name="value_preview"),
    path("values/keys/<id:key_id>/", values.key_panel, name="key_panel"),
    path("values/keys/<id:key_id>/add/", values.value_add, name="value_add"),
    path("values/keys/<id:key_id>/count/", values.key_count, name="key_count"),
    path("values/<id:value_id>/edit/", values.value_edit, name="value_edit"),
    path("values/<id:value_id>/delete/", values.value_delete, name="value_delete"),
    path("values/<id:value_id>/count/", values.value_count, name="value_count"),
    path("agreement/", agreement.agreement, name="agreement"),
    path("adjudicate/<id:report_id>/", agreement.adjudicate, name="adjudicate"),
    path("weak-labels/", weak_labels.weak_labels, name="weak_labels"),
    path("weak-labels/runs/", weak_labels.weak_label_runs_fragment, name="weak_label_runs"),
]

# The rule engine's rules (admins): assertion triggers and word lists.
urlpatterns += [
    path("rules/", rules.rules_page, name="rules"),
    path("rules/triggers/add/", rules.trigger_add, name="rule_trigger_add"),
    path("rules/triggers/<id:trigger_id>/toggle/", rules.trigger_toggle, name="rule_trigger_toggle"),
    path("rules/entries/add/", rules.entry_add, name="rule_entry_add"),
    path("rules/entries/<id:entry_id>/toggle/", rules.entry_toggle, name="rule_entry_toggle"),
]
