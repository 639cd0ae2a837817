"""Partner channels: API keys, idempotency records and webhooks (an outbox delivered by Celery)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from lender.audit import audit
from lender.db import execute_without_flush, fetch, fetch_one
from lender.errors import InvalidInput
from loans.models import (
    API_SCOPES,
    ApiCallLog,
    IdempotencyRecord,
    Loan,
    Partner,
    PartnerApiKey,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)

KEY_RETENTION = timedelta(hours=48)  # at least the 24 h partners are promised
# A key still "in progress" after this long belongs to a request that died (gunicorn kills a worker
# after 30 s): the partner's retry takes it over instead of getting 409 until the key expires.
IN_PROGRESS_ABANDONED = timedelta(minutes=2)
# 30 s doubling to an hourly retry: 30 attempts keep trying for about a day before a person is needed.
WEBHOOK_MAX_ATTEMPTS = 30
WEBHOOK_FIRST_RETRY = timedelta(seconds=30)
WEBHOOK_MAX_RETRY = timedelta(hours=1)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def partner_key_create(*, partner_id: int, scopes: list[str], by=None) -> tuple[PartnerApiKey, str]:
    """A new API key; the plain key is returned once and never stored. Audited."""
    unknown = set(scopes) - set(API_SCOPES)
    if not scopes or unknown:
        raise InvalidInput(f"Scopes must be among {', '.join(API_SCOPES)}.", field="scopes")
    if not Partner.objects.filter(pk=partner_id).exists():
        raise InvalidInput("No such partner.", field="partner")
    prefix = secrets.token_hex(6)
    raw = f"lk_{prefix}_{secrets.token_urlsafe(32)}"
    key = PartnerApiKey.objects.create(partner_id=partner_id, prefix=prefix, key_hash=_digest(raw), scopes=scopes)
    audit(target=key, action="api_key.create", actor=by, message=f"Key {prefix} with scopes {', '.join(scopes)}.")
    return key, raw


def _deactivate(rows, *, by, action: str, message) -> int:
    """Lock the active rows, mark each inactive and audit it; how many there were."""
    rows = list(rows.select_for_update().filter(is_active=True).order_by("pk"))
    for row in rows:
        row.is_active = False
        row.save(update_fields=["is_active"])
        audit(target=row, action=action, actor=by, message=message(row))
    return len(rows)


@transaction.atomic
def partner_key_revoke(*, key_ids: list[int], by) -> int:
    """Deactivate keys at once (every later call with them is 401); audited. Returns how many."""
    return _deactivate(PartnerApiKey.objects.filter(pk__in=key_ids), by=by, action="api_key.revoke",
                       message=lambda key: f"Key {key.prefix} of {key.partner_id} revoked.")  # fmt: skip


def partner_key_authenticate(raw: str) -> PartnerApiKey | None:
    """The active key matching `raw`, compared in constant time; None otherwise."""
    parts = raw.split("_")
    if len(parts) < 3 or parts[0] != "lk":
        return None
    # Every API call starts here: one keyed read of the key with its partner, compiled once.
    key = fetch_one(PartnerApiKey, '"loans_partnerapikey"."prefix" = %s AND "loans_partnerapikey"."is_active"',
                    [parts[1]], related="partner")  # fmt: skip
    if key is None or not hmac.compare_digest(key.key_hash, _digest(raw)):
        return None
    return key if key.partner.is_active else None


def partner_key_touch(*, key: PartnerApiKey) -> None:
    """Record a key's use, at most once a minute (not a write per call)."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        PartnerApiKey.objects.filter(pk=key.pk).update(last_used_at=now)


def api_call_record(*, key: PartnerApiKey | None, method: str, path: str, status: int, latency_ms: float) -> None:
    """One row per API call: a single INSERT, committed without waiting for the disk.

    It runs on every call, and a quote writes nothing else: waiting for a WAL flush here made a
    quote's wait on a database with fsync as long as its work. A database crash may lose the last
    fraction of a second of these rows; repayments and their answers are always flushed.
    """
    execute_without_flush(
        f"INSERT INTO {ApiCallLog._meta.db_table} (partner_id, key_prefix, method, path, status, latency_ms, "
        "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        [key.partner_id if key else None, key.prefix if key else "", method[:8], path[:300], status,
         round(latency_ms, 2), timezone.now()],
    )  # fmt: skip


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def idempotency_begin(*, partner: Partner, key: str, fingerprint: str) -> tuple[str, IdempotencyRecord]:
    """Claim a key: ('new', record) to process, or ('replay' | 'in_progress' | 'conflict', existing).

    The claim is one INSERT ... ON CONFLICT DO NOTHING, committed at once, so a concurrent request
    with the same key sees it (and gets 'in_progress') while this one is processed. A claim left
    in progress longer than IN_PROGRESS_ABANDONED is taken over by the same request.
    """
    table, now = IdempotencyRecord._meta.db_table, timezone.now()
    # Not flushed to disk on its own: a claim lost in a crash is one whose repayment was not
    # committed either (that commit comes later in the WAL), and the partner's retry claims again.
    row = execute_without_flush(
        f"INSERT INTO {table} (partner_id, key, request_hash, is_complete, created_at) "
        "VALUES (%s, %s, %s, false, %s) ON CONFLICT (partner_id, key) DO NOTHING RETURNING id",
        [partner.pk, key, fingerprint, now],
    )
    if row is not None:
        record = IdempotencyRecord(id=row[0], partner=partner, key=key, request_hash=fingerprint, created_at=now)
        record._state.adding = False
        return "new", record
    record = fetch_one(IdempotencyRecord, '"partner_id" = %s AND "key" = %s', [partner.pk, key])
    if record is None:  # purged between the two statements: claim it again
        return idempotency_begin(partner=partner, key=key, fingerprint=fingerprint)
    if record.request_hash != fingerprint:
        return "conflict", record
    if record.is_complete:
        return "replay", record
    if record.created_at < now - IN_PROGRESS_ABANDONED:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET created_at = %s WHERE id = %s AND NOT is_complete AND created_at = %s",
                [now, record.pk, record.created_at],
            )
            if cursor.rowcount == 1:
                record.created_at = now
                return "new", record
    return "in_progress", record


def idempotency_finish(*, record: IdempotencyRecord, status: int, body) -> None:
    """Store the answer to replay; a server error deletes the claim so that the partner may retry.

    Call it in the transaction that made the answer, so that the two are committed together.
    """
    table = IdempotencyRecord._meta.db_table
    with connection.cursor() as cursor:
        if status >= 500:
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [record.pk])
            return
        text = json.dumps(body, cls=DjangoJSONEncoder)
        cursor.execute(
            f"UPDATE {table} SET is_complete = true, response_status = %s, response_body = %s::jsonb WHERE id = %s",
            [status, text, record.pk],
        )
    record.is_complete, record.response_status, record.response_body = True, status, json.loads(text)


def idempotency_purge() -> int:
    return IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - KEY_RETENTION).delete()[0]


# ---------------------------------------------------------------------------------------------
# Webhooks
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def webhook_register(*, partner: Partner, url: str) -> tuple[WebhookEndpoint, str]:
    if not url.startswith(("https://", "http://")):
        raise InvalidInput("The webhook URL must be http(s).", field="url")
    secret = secrets.token_hex(24)
    return WebhookEndpoint.objects.create(partner=partner, url=url, secret=secret), secret


@transaction.atomic
def webhook_endpoint_deactivate(*, endpoint_ids: list[int], by) -> int:
    """Stop queuing events for these endpoints (pending deliveries still go out); audited."""
    return _deactivate(WebhookEndpoint.objects.filter(pk__in=endpoint_ids), by=by, action="webhook.deactivate",
                       message=lambda endpoint: endpoint.url)  # fmt: skip


def webhook_emit(*, loan: Loan, event_type: str, data: dict) -> None:
    """Queue an event for every endpoint of the loan's partner, in the caller's transaction."""
    if not loan.partner_id:
        return
    endpoints = fetch(WebhookEndpoint, '"partner_id" = %s AND "is_active"', [loan.partner_id])
    if not endpoints:
        return
    event_id = uuid.uuid4().hex
    payload = {"id": event_id, "type": event_type, "created": timezone.now().isoformat(), "data": data}
    rows = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=e, event_id=event_id, event_type=event_type, payload=payload) for e in endpoints
    )
    _queue_after_commit(row.pk for row in rows)


def _queue_after_commit(delivery_ids) -> None:
    """Send each delivery as soon as the transaction commits.

    Robust: a broker that cannot be reached then must not turn a committed repayment into an error
    for its caller; the rows are pending, and the dispatcher on beat sends them.
    """
    from loans.tasks import webhook_deliver_task

    for delivery_id in delivery_ids:
        # A lambda, not functools.partial: Django names a failed robust callback by its __qualname__.
        transaction.on_commit(lambda delivery_id=delivery_id: webhook_deliver_task.delay(delivery_id), robust=True)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of "<timestamp>.<body>" with the endpoint's secret, hex."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def webhook_retry_delay(attempts: int) -> timedelta:
    """How long after a failed attempt the next one is due: 30 s, doubling, at most an hour."""
    return min(WEBHOOK_FIRST_RETRY * 2 ** max(attempts - 1, 0), WEBHOOK_MAX_RETRY)


def webhook_deliveries_due(*, now=None, limit: int = 1000) -> list[int]:
    """Ids of pending deliveries whose attempt is due, oldest first (for the dispatcher)."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


@transaction.atomic
def webhook_deliver(*, delivery_id: int) -> str:
    """Attempt one due delivery at most once at a time: 'delivered', 'skipped', 'retry' or 'failed'.

    'skipped' when it is delivered, failed, not yet due, or being attempted by another worker (so
    a dispatcher that queues it twice, or a re-delivered task, sends nothing twice).
    """
    delivery = (
        # of=self: the endpoint row stays free for its other deliveries and for deactivation.
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",)).select_related("endpoint")
        .filter(pk=delivery_id).first()
    )  # fmt: skip
    now = timezone.now()
    if delivery is None or delivery.status != WebhookDeliveryStatus.PENDING or delivery.next_attempt_at > now:
        return "skipped"
    body = json.dumps(delivery.payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        delivery.endpoint.url, data=body, method="POST",
        headers={"Content-Type": "application/json", "X-Lender-Event": delivery.event_type,
                 "X-Lender-Delivery": delivery.event_id, "X-Lender-Timestamp": timestamp,
                 "X-Lender-Signature": "sha256=" + signature(delivery.endpoint.secret, timestamp, body)},
    )  # fmt: skip
    delivery.attempts += 1
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            ok = 200 <= response.status < 300
            error = "" if ok else f"endpoint answered {response.status}"
    except urllib.error.HTTPError as e:
        ok, error = False, f"endpoint answered {e.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        ok, error = False, f"endpoint unreachable: {e}"
    if ok:
        delivery.status, delivery.delivered_at = WebhookDeliveryStatus.DELIVERED, timezone.now()
        delivery.last_error = ""
    else:
        delivery.last_error = error
        if delivery.attempts >= WEBHOOK_MAX_ATTEMPTS:
            delivery.status = WebhookDeliveryStatus.FAILED
        else:
            delivery.next_attempt_at = timezone.now() + webhook_retry_delay(delivery.attempts)
    delivery.save(update_fields=["status", "attempts", "last_error", "delivered_at", "next_attempt_at"])
    return "delivered" if ok else ("failed" if delivery.status == WebhookDeliveryStatus.FAILED else "retry")


@transaction.atomic
def webhook_resend(*, delivery_ids: list[int], by) -> int:
    """Give failed deliveries a new series of attempts, due now; audited. Returns how many."""
    rows = list(
        WebhookDelivery.objects.select_for_update()
        .filter(pk__in=delivery_ids, status=WebhookDeliveryStatus.FAILED)
        .order_by("pk")
    )
    now = timezone.now()
    for delivery in rows:
        delivery.status, delivery.attempts, delivery.next_attempt_at = WebhookDeliveryStatus.PENDING, 0, now
        delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
        audit(target=delivery, action="webhook.resend", actor=by, message=f"Resent after: {delivery.last_error}")
    _queue_after_commit(delivery.pk for delivery in rows)
    return len(rows)
