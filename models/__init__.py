"""fengqiao models: training, evaluation, grading, explanation and registration."""
