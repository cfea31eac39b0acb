from django.apps import AppConfig


class RadreviewConfig(AppConfig):
    """The project package as an app: it owns the security audit (radreview.models)
    and the admin pages of users, groups and login lockouts (radreview.admin)."""

    name = "radreview"
    verbose_name = "Security"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in
        from django.db.backends.signals import connection_created

        from radreview import pg_arrays
        from radreview.security import lockout_record
        from radreview.sessions import session_start

        user_locked_out.connect(lockout_record, dispatch_uid="radreview.lockout_record")
        user_logged_in.connect(session_start, dispatch_uid="radreview.session_start")
        connection_created.connect(pg_arrays.register, dispatch_uid="radreview.pg_arrays")
