"""The bundled sample network: generator, capture, policy and assessment config."""
