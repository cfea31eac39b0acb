from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Clinician review"

    def ready(self) -> None:
        # Imported here, not at module level: apps.py loads before the models exist.
        from annotations.services.revisions import reports_superseded
        from inference.hooks import ApprovedLabelSource, approved_labels_register, on_stage2_stored
        from review.labels import approved_key_labels, approved_label_provenance
        from review.services.sync import reviews_supersede, sync_report_findings, sync_stored_batch

        # Review builds on inference, never the reverse: inference calls what we register.
        # Each report a stage 2 batch stores enters the clinicians' queue at once.
        # A batch's reports in groups (one batched sync: a few queries per group).
        on_stage2_stored(sync_report_findings, many=sync_stored_batch)
        # A corrected report's old revision leaves the queue; its decisions stay.
        reports_superseded.connect(reviews_supersede, dispatch_uid="reviews-supersede")
        # What clinicians approved is a stage 1 training label source ("gold + approved").
        approved_labels_register(
            ApprovedLabelSource(key_labels=approved_key_labels, provenance=approved_label_provenance)
        )
