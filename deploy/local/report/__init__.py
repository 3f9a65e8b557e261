"""``stir report``: the key panels from the live stack, for people without Grafana at hand, as PNG charts and as one
HTML page (``--html``). ``metrics`` samples the processes' ``/metrics``, ``probes`` measures commit → ClickHouse row
and → serving row, ``warehouse`` reads the top movers, ``charts`` draws, ``page`` writes the HTML."""
