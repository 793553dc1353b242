"""Model artifacts: the manifest, rebuilding third-party models from the registries, sessions."""
