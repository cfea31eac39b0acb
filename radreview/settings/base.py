"""Settings shared by every environment, read from environment variables.

The embedded default needs no server at all: SQLite for the database and
kombu's SQLAlchemy transport on a SQLite file for the Celery broker, both under
RADREVIEW_DATA_DIR. Production points DATABASE_URL at PostgreSQL and
CELERY_BROKER_URL at Redis; nothing else changes.
"""

import importlib.util
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env.str("RADREVIEW_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: runserver leaves /static/ to WhiteNoise, as gunicorn does.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "csp",
    "axes",  # login lockout (docs/decisions.md "Issue 17: login lockout and throttling")
    "radreview",  # the security audit (radreview.models) and the User/Group admin
    "jobs",
    "annotations",
    "inference",
    "review",
    "analytics",
    "demo",  # after the apps whose services it calls
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files answered here, before the rest
    "radreview.middleware.NoStoreMiddleware",  # outermost after it: has the last word on caching
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "radreview.nul_guard.NulCharacterGuardMiddleware",  # NUL in input: a 400, never a DB error
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "radreview.sessions.IdleTimeoutMiddleware",  # before the login check: an idle session is logged out
    "radreview.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into its 429 page
]

ROOT_URLCONF = "radreview.urls"
WSGI_APPLICATION = "radreview.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "radreview.context_processors.roles",
                "radreview.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'radreview.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a Celery worker writes; the timeout
    # makes a writer wait for the other instead of failing with "locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Django's ModelBackend with axes' check in front: a locked-out account or address is
# refused before its password is checked (radreview.backends).
AUTHENTICATION_BACKENDS = ["radreview.backends.LockoutModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Sessions (docs/decisions.md "Issue 17: sessions") ------------------------
# Logged out after SESSION_IDLE_TIMEOUT_SECONDS without a request (radreview.sessions;
# polling requests do not count); no session outlives SESSION_COOKIE_AGE. Annotators'
# and clinicians' session cookies also end when the browser closes.
SESSION_IDLE_TIMEOUT_SECONDS = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=30 * 60)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)

# --- Login lockout (django-axes; docs/decisions.md "Issue 17: login lockout and throttling")
# AXES_FAILURE_LIMIT wrong passwords for one username, or from one address, lock
# that username or address (login form, admin login and the token API alike) for
# AXES_COOLOFF_MINUTES; an admin unlocks sooner in Django admin ("Access attempts").
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_MINUTES", default=30.0) / 60  # hours
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# Behind reverse proxies set PROXY_COUNT to how many there are, so that lockouts and
# throttles read the client's address from X-Forwarded-For, not the proxy's REMOTE_ADDR.
PROXY_COUNT = env.int("PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "radreview.security.client_ip"

# Throttle counters (DRF) live in the cache: one shared by every web process in
# production (CACHE_URL=redis://...), or each process counts on its own.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request otherwise
# Static files (docs/decisions.md, "Issue 18: static files"): collectstatic writes each file
# under a content-hashed name with .gz and .br copies; WhiteNoise serves the compressed copy
# the browser accepts, hashed names with a ten-year "immutable" lifetime, any file asked for
# by its plain name for WHITENOISE_MAX_AGE seconds. radreview.staticfiles.StaticStorage falls
# back to the plain name for a file collectstatic has not seen (a checkout that never ran it);
# production uses WhiteNoise's strict storage, where such a file is an error.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "radreview.staticfiles.StaticStorage"},
}
WHITENOISE_MAX_AGE = env.int("WHITENOISE_MAX_AGE", default=3600)
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
MEDIA_URL = "media/"

# Where trained models, assembled GGUF files and other artefacts live: never in git.
MODEL_STORAGE_DIR = Path(env.str("MODEL_STORAGE_DIR", default=str(DATA_DIR / "models")))
UPLOAD_DIR = Path(env.str("UPLOAD_DIR", default=str(DATA_DIR / "uploads")))

# Uploads are streamed to disk and imported by a worker, never held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
IMPORT_MAX_FILE_BYTES = env.int("IMPORT_MAX_FILE_BYTES", default=2 * 1024**3)
# A report longer than this is refused at import: real reports are a few kB.
REPORT_MAX_CHARS = env.int("REPORT_MAX_CHARS", default=100_000)
IMPORT_BATCH_SIZE = env.int("IMPORT_BATCH_SIZE", default=2000)

# --- Content-Security-Policy (django-csp; docs/security.md) -----------------
# Scripts only from this server, as files: no inline <script>, no on*= handlers,
# no eval. Styles allow inline (style="" attributes for progress bars; Plotly and
# htmx insert <style> elements): docs/decisions.md, "Issue 17: CSP".
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:"],  # Plotly's "download as PNG", Swagger UI's icons
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env.str(
    "CELERY_BROKER_URL", default=f"sqla+sqlite:///{DATA_DIR / 'celery-broker.sqlite3'}"
)
_default_backend = (
    CELERY_BROKER_URL
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
    else f"db+sqlite:///{DATA_DIR / 'celery-results.sqlite3'}"
)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=_default_backend)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="heavy")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # a task killed with its worker is redelivered (jobs are idempotent)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=6 * 3600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=6 * 3600 + 300)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXTENDED = True
# Two queues (jobs.queues): interactive work has its own worker process, so an import
# never waits behind a training. The periodic check of dead workers' jobs runs on beat.
CELERY_TASK_ROUTES = {"jobs.requeue_stale": {"queue": "interactive"}}
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-jobs": {
        "task": "jobs.requeue_stale",
        "schedule": env.float("JOBS_REQUEUE_EVERY_SECONDS", default=30.0),
        "options": {"expires": 25},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Liveness of running jobs (jobs.services): a beat every 10 s, re-sent after 60 s of silence.
JOBS_QUEUE_PREFIX = env.str("JOBS_QUEUE_PREFIX", default="")
JOBS_HEARTBEAT = True
# Cohort jobs run in chunks of this many reports (jobs.chunks); the job's task sends
# this many helper tasks to its queue, so every free worker takes chunks of it.
JOBS_CHUNK_SIZE = env.int("JOBS_CHUNK_SIZE", default=500)
JOBS_CHUNK_HELPERS = env.int("JOBS_CHUNK_HELPERS", default=16)
# Stage 1 inference in int8 (dynamic quantization): faster on a CPU; off by default so
# stored predictions equal the evaluated model's exactly.
STAGE1_QUANTIZE = env.bool("STAGE1_QUANTIZE", default=False)
# Stage 2 chunks in the LLM modes (seconds a report): a chunk stays a few minutes of work.
STAGE2_CHUNK_SIZE = env.int("STAGE2_CHUNK_SIZE", default=20)
JOBS_HEARTBEAT_SECONDS = env.float("JOBS_HEARTBEAT_SECONDS", default=10.0)
JOBS_STALE_SECONDS = env.float("JOBS_STALE_SECONDS", default=60.0)

# --- REST framework ---------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "radreview.openapi.AutoSchema",
    # Per signed-in user; the token endpoint has its own, tighter rate per address.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "NUM_PROXIES": PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER", default="1200/minute"),
        "auth_token": env.str("API_THROTTLE_TOKEN", default="10/minute"),
    },
}

# --- OpenAPI (drf-spectacular): /api/schema/ and /api/docs/ -----------------
SPECTACULAR_SETTINGS = {
    "TITLE": "RadReview API",
    "DESCRIPTION": (
        "Everything the RadReview screens do. Authenticate with a session (browser) or a token: "
        "`Authorization: Token <key>` (POST /api/auth/token/ with username and password, or ask an "
        "admin to issue one). Bodies are JSON. Offsets are Unicode code points into the report text, "
        "[start, end). No string may contain U+0000 (a 400)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema names no PHI, but like every page it is for signed-in users only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
    # The schema promises JSON bodies only: a form cannot say null, a list of one or
    # nesting, so form media types promised requests the views read differently.
    # The views still parse forms (older scripts), undocumented.
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    # Every operation documents its error responses (400/401/403/404/429) in one place.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "radreview.openapi.postprocess_error_responses",
    ],
    # Several serializers have a "kind" or "modes" field with different choices: name them.
    "ENUM_NAME_OVERRIDES": {
        "EntityValueKindEnum": ["keyword", "regex"],
        "WeakLabelModeEnum": "inference.ml.text.labels.MODES",
    },
}
# Swagger UI served from this server (no CDN) when drf-spectacular-sidecar is
# installed; without it /api/docs/ is a plain endpoint list (radreview/api_docs.py).
if importlib.util.find_spec("drf_spectacular_sidecar") is not None:
    INSTALLED_APPS.append("drf_spectacular_sidecar")
    SPECTACULAR_SETTINGS |= {"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR"}

# --- Logging: never log report text or patient identifiers -------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Stage 2 LLM (relationship mapping; README "LLM configuration") ----------
# llama_cpp: in-process llama.cpp on a GGUF file; MODEL is a preset name
# (`manage.py llm_install --preset NAME` assembles it under MODEL_STORAGE_DIR/llm)
# or a path to any .gguf file. openai: an OpenAI-compatible server (llama.cpp
# server, vLLM, Ollama) at SERVER_URL (with the /v1 prefix); MODEL is the name
# the server knows the model by.
RADREVIEW_LLM = {
    "BACKEND": env.str("RADREVIEW_LLM_BACKEND", default="llama_cpp"),
    "MODEL": env.str("RADREVIEW_LLM_MODEL", default="qwen2.5-coder-1.5b"),
    "SERVER_URL": env.str("RADREVIEW_LLM_SERVER_URL", default=""),
    "API_KEY": env.str("RADREVIEW_LLM_API_KEY", default=""),
    "CONTEXT_SIZE": env.int("RADREVIEW_LLM_CONTEXT_SIZE", default=4096),
    "THREADS": env.int("RADREVIEW_LLM_THREADS", default=0),  # 0: all cores but one (see backends.py)
    "CONSTRAINED": env.bool("RADREVIEW_LLM_CONSTRAINED", default=True),  # JSON-schema grammar
    "REQUEST_TIMEOUT": env.float("RADREVIEW_LLM_REQUEST_TIMEOUT", default=120.0),  # one HTTP call
    "REPORT_TIMEOUT": env.float("RADREVIEW_LLM_REPORT_TIMEOUT", default=300.0),  # one report, all steps
    "RETRIES": env.int("RADREVIEW_LLM_RETRIES", default=3),  # batch jobs, on an unreachable server
    "RETRY_BACKOFF": env.float("RADREVIEW_LLM_RETRY_BACKOFF", default=5.0),  # seconds, doubled per try
    # openai: requests a batch job keeps in flight (a server with parallel slots or
    # continuous batching answers them together); llama_cpp always runs one at a time.
    "MAX_IN_FLIGHT": env.int("RADREVIEW_LLM_MAX_IN_FLIGHT", default=8),
    # openai: auto (json_schema, then json_object, then none when the server answers 400),
    # json_schema, json_object or none.
    "RESPONSE_FORMAT": env.str("RADREVIEW_LLM_RESPONSE_FORMAT", default="auto"),
}
