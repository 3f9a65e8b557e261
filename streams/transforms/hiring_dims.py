"""Hiring dimensions: a ``job_positions`` or ``companies`` change is its dimension row (no state; the row's
version is the change's LSN), and Debezium's timestamps as epoch ms."""

from __future__ import annotations

from typing import Any

from streams.transforms.cdc import label, ms


def dimension_row(row: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """A ``job_positions`` or ``companies`` change as its dimension row: (table, key, row); version = LSN."""
    table = row["source"]["table"]
    deleted = row.get("op") == "d"
    image = row.get("before") if deleted else row.get("after")
    if image is None:
        raise ValueError(f"{table} change without an image")
    lsn = int(row["source"]["lsn"])
    if table == "job_positions":
        key = str(image["id"])
        return table, key, {
            "position_id": key, "company_id": str(image["company_id"]), "version": lsn,
            "title": label(image, "title", ""), "location": label(image, "location"),
            "status": image.get("status") or "open", "deleted": deleted,
        }  # fmt: skip
    if table == "companies":
        key = str(image["id"])
        name = label(image, "name", "")
        return table, key, {"company_id": key, "version": lsn, "name": name, "deleted": deleted}
    raise ValueError(f"not a hiring dimension table: {table}")


def dimension_time(row: dict[str, Any]) -> int:
    image = row.get("after") or row.get("before") or {}
    return ms(image.get("updated_at") or image.get("created_at")) or int(row["source"].get("ts_ms") or 0)
