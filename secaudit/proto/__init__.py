"""Protocol dissectors: one module per protocol, bounds-checked readers over untrusted bytes."""
