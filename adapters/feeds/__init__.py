"""Market-data feed readers (and encoders) that turn exchange formats into canonical event arrays."""
