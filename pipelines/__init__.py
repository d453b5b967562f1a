"""fengqiao pipelines."""
