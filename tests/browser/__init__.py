"""Real-browser tests. A package, so the browser fixture can be package-scoped."""
