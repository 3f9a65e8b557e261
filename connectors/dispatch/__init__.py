"""The scrape dispatcher: delivers the refresh requests of ``social.scrape.request`` to the scraper's HTTP API.

Each request is POSTed with ``Idempotency-Key: <request_id>`` and retried with backoff until the scraper takes it
(a scraper outage delays requests, it loses none); the consumer group's offset moves past a message only when every
request in it was delivered or dead-lettered, so a killed dispatcher sends the rest again with the same keys. At
most ``max_per_window`` POSTs go out per ``window_s`` (the send log survives a restart).
"""
