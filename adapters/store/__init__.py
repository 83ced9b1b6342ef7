"""adapters/store package."""
