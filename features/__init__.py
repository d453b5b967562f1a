"""fengqiao features."""
