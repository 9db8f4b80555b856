"""glmix_models: PyTorch reference of glmix (see models/README.md and docs/model-spec.md)."""
