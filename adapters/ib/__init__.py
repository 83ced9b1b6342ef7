"""The live Interactive Brokers adapter (ib_insync) and its loopback fake TWS server.

``connection`` (session, reconnect, notices), ``pacing`` (50 messages/s),
``mapping`` (orders and contracts), ``venue`` (IBVenue, the live twin of the
simulated venue), ``health`` (state for telemetry) and ``fake_tws`` (the test
server). Requires the ``live`` extra (ib_insync).
"""
