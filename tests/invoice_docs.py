"""Invoices compared as bills: without `usage_files`, which tells the files rated (another file of
the same records, CSV or Parquet, compressed or cut in parts, is another file)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounting.invoice import Invoice


def billed(doc: dict[str, Any]) -> dict[str, Any]:
    """The invoice's JSON document (or `Invoice.to_dict()`) without its `usage_files`."""
    return {k: v for k, v in doc.items() if k != "usage_files"}


def bill_of(invoice: Invoice) -> dict[str, Any]:
    """The invoice's JSON document (`Invoice.to_json()`, as written), without its `usage_files`."""
    return billed(json.loads(invoice.to_json()))
