"""m2msim: accounting.

The public API:

    from accounting import load_catalog, load_inventory, inventory_from_dict, rate, compare_month
    invoice = rate(load_inventory("inventory.yaml"), "usage.parquet")   # or an Arrow table
    print(invoice.render_text()); invoice.to_json()
"""

from __future__ import annotations

from accounting.catalog import Catalog, load_catalog, parse_catalog
from accounting.compare import Comparison, compare
from accounting.engine import RatingRun, rate, rate_run
from accounting.errors import AccountingError, CatalogError, InventoryError, UsageError
from accounting.inventory import Inventory, inventory_from_dict, load_inventory
from accounting.invoice import Invoice
from accounting.usage import UsageSource


def compare_month(inventory: Inventory, usage: UsageSource, catalog: Catalog | None = None) -> Comparison:
    """Rate the month and compare every offer, plan and commitment for each line and the fleet."""
    return compare(rate_run(inventory, usage, catalog))


__all__ = [
    "AccountingError",
    "Catalog",
    "CatalogError",
    "Comparison",
    "Inventory",
    "InventoryError",
    "Invoice",
    "RatingRun",
    "UsageError",
    "compare",
    "compare_month",
    "inventory_from_dict",
    "load_catalog",
    "load_inventory",
    "parse_catalog",
    "rate",
    "rate_run",
]
