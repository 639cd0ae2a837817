import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": "x" * 64 + "-production-like-secret-for-the-check-only",
    "FIELD_ENCRYPTION_SALT": "production-salt",
    "PII_HASH_KEY": "production-hash-key",
    "ALLOWED_HOSTS": "backoffice.example.cn",
    "DATABASE_URL": "postgres://lender@db.internal:5432/lender",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
}


def run_manage(*args, env):
    # DJANGO_ALLOW_ASYNC_UNSAFE is set for the browser tests only; a deployment never has it.
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_missing_production_secret_stops_start_up_with_a_clear_message():
    env = {k: v for k, v in PRODUCTION.items() if k != "PII_HASH_KEY"}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "PII_HASH_KEY must be set when ENVIRONMENT=production" in result.stderr
