"""The dashboard's routes by page family, each a ``routes(ui)`` list: ``auth`` (sign in/out), ``pages``
(models, rollouts, SLOs, evals, experiments), ``actions`` (rollout buttons), and ``errors`` (handlers)."""
