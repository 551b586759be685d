"""Django with the outbox: a sign-up saves the account and enqueues its welcome email inside
`transaction.atomic()`, so both commit or neither does.

    PROLETARIAN_URL=postgresql://127.0.0.1/app python examples/django_outbox.py

A single-file Django project: settings.configure() instead of a settings module, and one model.
In a real project the store is built once (in an AppConfig.ready() or a module of your own) and
the worker runs as its own process (`proletarian worker ...`).

PROLETARIAN_URL defaults to the local test server. The tables go into the schema named by
PROLETARIAN_EXAMPLE_SCHEMA (default "proletarian_example"), which this file drops at the end.
"""

from __future__ import annotations

import os
from typing import Any

import django
import psycopg
from django.conf import settings
from django.db import connection, models, transaction
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from proletarian import QueueWorker
from proletarian.adapters.postgres import PostgresStore
from proletarian.integrations.django import enqueue

URL = os.environ.get("PROLETARIAN_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = os.environ.get("PROLETARIAN_EXAMPLE_SCHEMA", "proletarian_example")

params = conninfo_to_dict(URL)
settings.configure(
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",  # psycopg 3
            "NAME": params.get("dbname", ""),
            "USER": params.get("user", ""),
            "PASSWORD": params.get("password", ""),
            "HOST": params.get("host", ""),
            "PORT": str(params.get("port", "")),
            # The example's tables live in a schema of their own.
            "OPTIONS": {"options": f"-c search_path={SCHEMA}"},
        }
    },
    INSTALLED_APPS=[],
    USE_TZ=True,
)
django.setup()


class Account(models.Model):  # type: ignore[misc]  # Django ships no type hints
    email = models.EmailField(unique=True)

    class Meta:
        app_label = "accounts"


class PaymentDeclined(Exception):
    pass


def sign_up(store: PostgresStore, email: str, *, card_ok: bool = True) -> None:
    """The view's work: the account and its job commit together, or neither does."""
    try:
        with transaction.atomic():
            Account.objects.create(email=email)
            enqueue(store, "send-welcome", {"email": email}, queue="emails")
            if not card_ok:
                raise PaymentDeclined(email)
        print(f"signed up {email}")
    except PaymentDeclined:
        print(f"sign-up of {email} rolled back: no account, no email")


def handle_job(job_type: str, payload: Any) -> None:
    print(f"worker: welcome email sent to {payload['email']}")


def main() -> None:
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
    with connection.schema_editor() as editor:
        editor.create_model(Account)
    store = PostgresStore.connect(URL, schema=SCHEMA, max_size=2)
    try:
        store.install_schema()
        sign_up(store, "ada@example.com")
        sign_up(store, "mallory@example.com", card_ok=False)
        sign_up(store, "grace@example.com")

        QueueWorker(store, handle_job, queue="emails").drain()
        emails = list(Account.objects.order_by("email").values_list("email", flat=True))
        print(f"accounts: {', '.join(emails)}")
    finally:
        store.close()
        connection.close()
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(SCHEMA)))


if __name__ == "__main__":
    main()
