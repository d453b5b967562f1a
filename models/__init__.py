"""fengqiao models."""
