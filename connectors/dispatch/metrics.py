"""Prometheus metrics of the scrape dispatcher."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

POSTS = Counter("stir_dispatch_posts_total", "POSTs to the scraper API by verdict", ["verdict"])
DELIVERED = Counter("stir_dispatch_delivered_total", "Scrape requests the scraper took, by flow", ["flow"])
DEAD_LETTERS = Counter("stir_dispatch_dead_letters_total", "Requests dead-lettered, by reason code", ["code"])
RATE_WAIT = Counter("stir_dispatch_rate_wait_seconds_total", "Time spent waiting for the rate cap")
BACKOFF = Gauge("stir_dispatch_backoff_seconds", "The current retry delay (0: delivering)")
