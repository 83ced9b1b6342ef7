"""Telemetry: Prometheus metrics (:mod:`.metrics`), the health/metrics HTTP
endpoints (:mod:`.http`) and the alert engine with its notifiers (:mod:`.alerts`).

Importing this package imports nothing heavy; ``metrics`` needs the
``prometheus-client`` package (``pip install 'parity[metrics]'``).
"""
