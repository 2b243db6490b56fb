"""The demo's acts, in story order; each module owns one act."""

from trilho.demo.acts import business, contracts_golden, drift, llm_evals, measurement, recommender, rollouts
from trilho.demo.runner import Act

ACTS: list[tuple[str, Act]] = [
    ("contracts and golden tests", contracts_golden.act),
    ("a LightGCN recommender, trained, registered and served", recommender.act),
    ("rollouts: shadow → canary → full, automatic rollback", rollouts.act),
    ("an LLM feature and its eval gate", llm_evals.act),
    ("causal measurement: A/B with CUPED and a geo experiment", measurement.act),
    ("continuous training: drift triggers a gated retrain", drift.act),
    ("business metrics gate a rollout: +3 % promoted, −5 % rolled back", business.act),
]
