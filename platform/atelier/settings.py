"""Django settings, all from environment variables (the README's table lists every one).

Two ways to run, same code paths:
- embedded default (ATELIER_MODE=demo, or no DATABASE_URL/REDIS_URL): SQLite, tasks run by an
  in-process worker thread, in-memory channel layer;
- production: DATABASE_URL (PostgreSQL), REDIS_URL (Celery broker + Channels layer), Celery workers.
"""
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

REPO_DIR = Path(__file__).resolve().parents[2]
BASE_DIR = REPO_DIR
# A checkout has manage.py at its root; an installed package (`pip install .`) carries frontend/
# inside itself and finds the plugins package where it was installed.
IN_CHECKOUT = (REPO_DIR / "manage.py").is_file()
FRONTEND_DIR = REPO_DIR / "frontend" if IN_CHECKOUT else Path(__file__).resolve().parent / "frontend"


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


ATELIER_MODE = os.environ.get("ATELIER_MODE", "production" if os.environ.get("DATABASE_URL") else "embedded")
DEMO_MODE = ATELIER_MODE == "demo"

DEBUG = env_bool("DEBUG", DEMO_MODE)
VAR_DIR = Path(os.environ.get("ATELIER_VAR_DIR", REPO_DIR / "var" if IN_CHECKOUT else Path.cwd() / "var"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

from atelier.core.secret import embedded_secret_key  # noqa: E402

# Production must be given its key; the embedded mode makes its own once and keeps it in var/.
SECRET_KEY = os.environ.get("SECRET_KEY") or (embedded_secret_key(VAR_DIR) if ATELIER_MODE != "production" else "")
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set in production (ATELIER_MODE=production).")
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

# --- HTTPS (README "Production"): behind a reverse proxy that terminates TLS and sets
# X-Forwarded-Proto, ATELIER_TLS_PROXY=1 turns on everything `manage.py check --deploy` asks for.
TLS_PROXY = env_bool("ATELIER_TLS_PROXY", False)
if TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", TLS_PROXY)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$", r"^readyz$", r"^metrics$"]  # probes and scrapers talk plain HTTP
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if TLS_PROXY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", TLS_PROXY)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", TLS_PROXY)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", TLS_PROXY)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", TLS_PROXY)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served locally: Atelier runs offline
    "django_htmx",
    "channels",
    "csp",
    "atelier.core",
    "atelier.accounts",
    "atelier.jobs",
    "atelier.library",
    "atelier.embeddings",
    "atelier.pluginhost",
    "atelier.api",
    "atelier.search",
    "atelier.tagging",
]

MIDDLEWARE = [
    "atelier.core.metrics.metrics_middleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "atelier.core.middleware.BoundaryMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into a 429
]

# Plugins: found before Django starts, installed as apps (docs/plugins.md).
from atelier.pluginhost.discovery import discover  # noqa: E402

import plugins as _plugins_package  # noqa: E402

ATELIER_PLUGINS = discover(Path(_plugins_package.__file__).resolve().parent, disabled={
    n.strip() for n in os.environ.get("ATELIER_PLUGINS_DISABLED", "").split(",") if n.strip()})
INSTALLED_APPS += ATELIER_PLUGINS.apps

ROOT_URLCONF = "atelier.urls"
WSGI_APPLICATION = "atelier.wsgi.application"
ASGI_APPLICATION = "atelier.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [FRONTEND_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "atelier.core.context.site",
                "atelier.pluginhost.context.plugin_nav",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'atelier.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if os.environ.get("ATELIER_TEST_DB_NAME"):  # lets two test runs share one PostgreSQL server
    DATABASES["default"]["TEST"] = {"NAME": os.environ["ATELIER_TEST_DB_NAME"]}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL + a busy timeout let the in-process worker threads write while pages read; IMMEDIATE
    # transactions take the write lock up front, so concurrent writers wait (busy timeout) instead
    # of failing with "database is locked" when a read transaction tries to upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Every password a person sets (API, admin, createsuperuser) passes these, in every mode.
AUTH_PASSWORD_VALIDATORS = [{"NAME": f"django.contrib.auth.password_validation.{name}"} for name in (
    "UserAttributeSimilarityValidator", "MinimumLengthValidator", "CommonPasswordValidator", "NumericPasswordValidator")]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [FRONTEND_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"  # `manage.py collectstatic` fills it for production
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True  # serve frontend/static directly too: no build step needed

# --- Redis, Celery, Channels -------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# How tasks reach a worker: "celery" (Redis broker, worker processes), "thread" (an in-process
# worker thread per queue: the embedded default) or "inline" (run at commit in the caller: tests).
TASKS_MODE = os.environ.get("ATELIER_TASKS_MODE", "celery" if REDIS_URL else "thread")

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged only once it has finished...
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ...and a killed child puts it back on the queue.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # model work: one task at a time per process
CELERY_TASK_DEFAULT_QUEUE = "io"
CELERY_TASK_ROUTES = {}  # each task names its queue through the house decorator
# Redis redelivers a task not acknowledged within the visibility timeout. Job tasks work in
# chunks far shorter than this (ATELIER_CHUNK_SECONDS), so it only matters after a crash:
# then it is how long until the unfinished chunk is handed to another worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("ATELIER_VISIBILITY_TIMEOUT", 600),
    # Sweep for abandoned (unacknowledged, timed-out) messages every 10 s, not every 100 s.
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# `/metrics` (Prometheus): readable with `Authorization: Bearer <this>`; unset: staff and localhost only.
ATELIER_METRICS_TOKEN = os.environ.get("ATELIER_METRICS_TOKEN", "")
ATELIER_CHUNK_SECONDS = float(os.environ.get("ATELIER_CHUNK_SECONDS", 20))
# Sharded jobs (embedding, tagging): rows per id-range shard, and how many workers share one job.
ATELIER_SHARD_SIZE = env_int("ATELIER_SHARD_SIZE", 4096)
ATELIER_JOB_LANES = env_int("ATELIER_JOB_LANES", 4)
ATELIER_TASK_MAX_RETRIES = env_int("ATELIER_TASK_MAX_RETRIES", 3)

# The cache holds sign-in failures and API throttles: Redis, shared by every web process, in
# production; local memory in the embedded mode (one process).
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "atelier-cache"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SILENCED_SYSTEM_CHECKS = ["axes.W001"]  # axes warns of local memory, which is right for one process

if REDIS_URL:
    # channels_redis waits for messages with a 5 s BZPOPMIN; redis-py (8.x) reads with a 5 s socket
    # timeout by default, so an idle socket's consumer died with "Timeout reading" after 5 s and the
    # page's live progress stopped. The read must outlast the blocking pop.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                  "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Library limits -------------------------------------------------------------------------
ATELIER_MAX_UPLOAD_BYTES = env_int("ATELIER_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
ATELIER_MAX_IMAGE_PIXELS = env_int("ATELIER_MAX_IMAGE_PIXELS", 100_000_000)
ATELIER_MAX_ZIP_BYTES = env_int("ATELIER_MAX_ZIP_BYTES", 2 * 1024 * 1024 * 1024)
ATELIER_MAX_ZIP_ENTRIES = env_int("ATELIER_MAX_ZIP_ENTRIES", 10_000)
ATELIER_MAX_ZIP_RATIO = env_int("ATELIER_MAX_ZIP_RATIO", 100)
ATELIER_THUMB_SIZES = {"grid": 320, "large": 1280}
# Test/chaos knob: seconds each thumbnail waits, so a test can kill a worker mid-job.
ATELIER_THUMBNAIL_DELAY_S = float(os.environ.get("ATELIER_THUMBNAIL_DELAY_S", 0))
ATELIER_EMBED_DELAY_S = float(os.environ.get("ATELIER_EMBED_DELAY_S", 0))  # the same, per embedding batch

DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("ATELIER_MAX_FILES_PER_REQUEST", 500)

# --- Models ---------------------------------------------------------------------------------
# Which CLIP model embeds photos and queries: "demo" (bundled), an open_clip name with a pretrained
# tag ("ViT-B-32/laion2b_s34b_b79k"), "hf-hub:org/repo", or "file:/path/ckpt.pt?arch=ViT-B-32".
ATELIER_CLIP_MODEL = os.environ.get("ATELIER_CLIP_MODEL", "demo")
ATELIER_CLIP_DEMO_DIR = os.environ.get("ATELIER_CLIP_DEMO_DIR") or None   # None: ml_core/weights/demo_clip
ATELIER_TORCH_THREADS = env_int("ATELIER_TORCH_THREADS", 0) or None       # None: every core
# The torch device of every model in a worker ("cpu", "cuda", "cuda:1"; empty: CUDA when present),
# and the batch size per device type (embedding, generation); ATELIER_EMBED_BATCH overrides both.
ATELIER_DEVICE = os.environ.get("ATELIER_DEVICE", "").strip()
ATELIER_BATCH_SIZES = {"cpu": env_int("ATELIER_BATCH_CPU", 64), "cuda": env_int("ATELIER_BATCH_CUDA", 128)}
ATELIER_EMBED_BATCH = env_int("ATELIER_EMBED_BATCH", 0)

# --- Sign-in: throttling (django-axes) and API tokens (django-rest-knox) -----------------------
# After ATELIER_LOGIN_FAILURE_LIMIT failed sign-ins (web /login/ or /api/auth/token/) for one account,
# or from one client address, further tries answer 429 without checking a password for the cool-off.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = env_int("ATELIER_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ATELIER_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each alone: per account, and per address
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "atelier.accounts.throttling.client_ip"
AXES_LOCKOUT_CALLABLE = "atelier.accounts.throttling.lockout_response"
# Reverse proxies in front of Atelier that append to X-Forwarded-For (0: the peer's address is the client).
ATELIER_NUM_PROXIES = env_int("ATELIER_NUM_PROXIES", 0)
REST_KNOX = {"TOKEN_TTL": timedelta(hours=env_int("ATELIER_TOKEN_TTL_HOURS", 24)), "AUTO_REFRESH": False}

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "NUM_PROXIES": ATELIER_NUM_PROXIES,
    "DEFAULT_THROTTLE_RATES": {"auth": os.environ.get("ATELIER_AUTH_RATE", "20/minute")},
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "atelier.api.schema.AutoSchema",
    "DEFAULT_PARSER_CLASSES": ["atelier.api.parsers.JSONParser", "atelier.api.parsers.FormParser",
                               "atelier.api.parsers.MultiPartParser"],
    "DEFAULT_PAGINATION_CLASS": "atelier.api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "atelier.api.errors.json_exception_handler",
}
# Largest page any API list answers (`?limit=` above it is refused with a 400).
ATELIER_API_MAX_PAGE = env_int("ATELIER_API_MAX_PAGE", 500)
SPECTACULAR_SETTINGS = {
    "TITLE": "Atelier API",
    "DESCRIPTION": "Search, tag and create images in your self-hosted photo library.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Search ---------------------------------------------------------------------------------
# Seconds between looks for newly embedded photos, deletions and a new index snapshot (per web
# process); visible-photo id lists are recounted every ALLOW_TTL_S.
ATELIER_SEARCH_REFRESH_S = float(os.environ.get("ATELIER_SEARCH_REFRESH_S", 1.0))
ATELIER_SEARCH_ALLOW_TTL_S = float(os.environ.get("ATELIER_SEARCH_ALLOW_TTL_S", 60.0))
# Relevance cutoff for text queries (cosine); unset: the calibrated value of the model, if any.
ATELIER_SEARCH_MIN_SCORE = float(os.environ["ATELIER_SEARCH_MIN_SCORE"]) if os.environ.get("ATELIER_SEARCH_MIN_SCORE") else None
# Results closer than this (cosine) to a better one are collapsed into it.
ATELIER_SEARCH_DUPLICATE_COSINE = float(os.environ.get("ATELIER_SEARCH_DUPLICATE_COSINE", 0.98))
# The index: snapshots built by a worker (`build_search_index` job, `gpu` queue), mapped read-only
# by every process, plus an in-memory delta of what was embedded since (see docs/search.md).
ATELIER_INDEX_FLAT_THRESHOLD = env_int("ATELIER_INDEX_FLAT_THRESHOLD", 20_000)  # exact below this
ATELIER_INDEX_MEMORY_MB = env_int("ATELIER_INDEX_MEMORY_MB", 4096)  # budget of one snapshot's codes
ATELIER_INDEX_RECALL_TARGET = float(os.environ.get("ATELIER_INDEX_RECALL_TARGET", 0.95))  # else refused
ATELIER_INDEX_DELTA_REBUILD = env_int("ATELIER_INDEX_DELTA_REBUILD", 10_000)  # delta rows that ask for a build
ATELIER_INDEX_DELTA_MAX = env_int("ATELIER_INDEX_DELTA_MAX", 50_000)  # above this without a snapshot: 503
ATELIER_FAISS_THREADS = env_int("ATELIER_FAISS_THREADS", 1)  # OpenMP threads per search
ATELIER_FAISS_BUILD_THREADS = env_int("ATELIER_FAISS_BUILD_THREADS", 0)  # per build; 0: every core
# Where vectors live: "faiss" (snapshots on this machine) or "pgvector" (PostgreSQL with the
# vector extension; installs the `pgvectors` app, whose migration creates the extension).
ATELIER_VECTOR_STORE = os.environ.get("ATELIER_VECTOR_STORE", "faiss")
if ATELIER_VECTOR_STORE not in ("faiss", "pgvector"):
    raise ImproperlyConfigured(f"ATELIER_VECTOR_STORE must be faiss or pgvector, not {ATELIER_VECTOR_STORE!r}")
if ATELIER_VECTOR_STORE == "pgvector":
    INSTALLED_APPS.append("atelier.pgvectors")
ATELIER_PGVECTOR_EF_SEARCH = env_int("ATELIER_PGVECTOR_EF_SEARCH", 100)  # HNSW candidates per search

# --- Tagging --------------------------------------------------------------------------------
# Default cutoff of a multi-label tag: mean + K·std of its cosine scores over the collection.
ATELIER_TAG_STD_K = float(os.environ.get("ATELIER_TAG_STD_K", 1.0))
# Decided examples (accepted + rejected, both kinds) a tag needs before its cutoff is learned.
ATELIER_TAG_MIN_DECISIONS = env_int("ATELIER_TAG_MIN_DECISIONS", 2)
# The tagging job: rows (stored vectors) per shard, rows scored at once (memory: rows × tags floats),
# and the most suggestions kept per tag and collection (the most confident; 0: no cap).
ATELIER_TAG_SHARD_SIZE = env_int("ATELIER_TAG_SHARD_SIZE", 65536)
ATELIER_TAG_BLOCK = env_int("ATELIER_TAG_BLOCK", 8192)
ATELIER_TAG_SUGGESTIONS_PER_TAG = env_int("ATELIER_TAG_SUGGESTIONS_PER_TAG", 1000)
# Tag new photos as soon as they are embedded.
ATELIER_TAG_ON_EMBED = env_bool("ATELIER_TAG_ON_EMBED", True)
# Register the `tags` search filter (photos with an accepted tag of that name).
ATELIER_TAG_SEARCH_FILTER = env_bool("ATELIER_TAG_SEARCH_FILTER", True)

# --- Content-Security-Policy (django-csp) ------------------------------------------------------
# Pages load scripts and styles only from Atelier itself: no inline <script>, event handler or
# style attribute anywhere (tests/platform/test_csp.py scans every page). Thumbnails may be data:
# or blob: URLs (previews of dropped files); the websocket is same-origin ('self').
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
