"""Django-side services of the inference app: thin wrappers that connect the
pure ML code in inference.ml to the database, jobs and the model registry."""
