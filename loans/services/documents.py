"""Application documents: upload through the storage API, verification, and the approval gate."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from lender.audit import audit
from lender.errors import InvalidInput, NotFound
from loans.models import DocumentKind, Loan, LoanDocument
from loans.services.applications import _lock, _require_perm

MAX_BYTES = 10 * 1024 * 1024
# Content is checked by its first bytes, not by the name or the browser's word for it.
SIGNATURES = {b"%PDF": "application/pdf", b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def _sniff(head: bytes) -> str | None:
    return next((kind for magic, kind in SIGNATURES.items() if head.startswith(magic)), None)


@transaction.atomic
def document_upload(*, loan_id: int, kind: str, upload, by) -> LoanDocument:
    """Store a PDF, PNG or JPEG of at most 10 MB for an application; raises InvalidInput naming the field."""
    loan = _lock(loan_id)
    _require_perm(by, "loans.approve_loan", "upload documents")
    if kind not in DocumentKind.values:
        raise InvalidInput(f"Unknown document kind {kind!r}.", field="kind")
    if upload is None or upload.size == 0:
        raise InvalidInput("Choose a file to upload.", field="file")
    if upload.size > MAX_BYTES:
        raise InvalidInput("A document can be at most 10 MB.", field="file")
    head = upload.read(8)
    upload.seek(0)
    content_type = _sniff(head)
    if content_type is None:
        raise InvalidInput("Upload a PDF, PNG or JPEG file.", field="file")
    document = LoanDocument(
        loan=loan, kind=kind, content_type=content_type, original_name=upload.name[:200], uploaded_by=by
    )
    document.file.save(upload.name, upload, save=False)
    document.save()
    audit(target=loan, action="document_uploaded", actor=by, message=f"{document.get_kind_display()} uploaded.")
    return document


@transaction.atomic
def document_verify(*, document_id: int, by) -> LoanDocument:
    try:
        document = LoanDocument.objects.select_for_update().select_related("loan").get(pk=document_id)
    except LoanDocument.DoesNotExist:
        raise NotFound(f"No document {document_id}.") from None
    _require_perm(by, "loans.approve_loan", "verify documents")
    if document.verified_at is None:
        document.verified_by, document.verified_at = by, timezone.now()
        document.save(update_fields=["verified_by", "verified_at"])
        audit(target=document.loan, action="document_verified", actor=by,
              message=f"{document.get_kind_display()} verified.")  # fmt: skip
    return document


def loan_missing_documents(loan: Loan) -> list[str]:
    """Required document kinds of the loan's product with no verified document yet."""
    verified = set(loan.documents.filter(verified_at__isnull=False).values_list("kind", flat=True))
    return [kind for kind in loan.product.required_documents if kind not in verified]


def require_documents(loan: Loan) -> None:
    missing = loan_missing_documents(loan)
    if missing:
        names = ", ".join(DocumentKind(kind).label for kind in missing)
        raise InvalidInput(f"Approval needs these documents verified first: {names}.", field="documents")
