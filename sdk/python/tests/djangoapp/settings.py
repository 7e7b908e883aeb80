"""Settings of the small Django project the SDK's tests run (unit tests
configure Django with these values; the end-to-end test uses the module
as DJANGO_SETTINGS_MODULE, shipping to a real Sawmill)."""

import os
import tempfile

SECRET_KEY = "sawmill-sdk-test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "djangoapp.urls"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]
MIDDLEWARE = [
    "sawmill.django.RequestLogMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

LOG_DIR = os.environ.get("DJANGOAPP_LOG_DIR") or tempfile.mkdtemp(prefix="djangoapp-logs-")

# The set-up docs/sdk-python.md recommends: console, a rotating file and
# Sawmill (SAWMILL_URL and SAWMILL_API_KEY come from the environment).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "verbose": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {
        "scrub": {"()": "sawmill.ScrubFilter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "verbose", "level": "WARNING"},
        "file": {
            "class": "logging.handlers.RotatingFileHandler",
            "filename": os.path.join(LOG_DIR, "app.log"),
            "maxBytes": 10 * 1024 * 1024,
            "backupCount": 5,
            "formatter": "verbose",
        },
        "sawmill": {
            "class": "sawmill.Handler",
            "service": "djangoapp",
            "environment": "test",
            "filters": ["scrub"],
        },
    },
    "root": {"handlers": ["console", "file", "sawmill"], "level": "INFO"},
}
