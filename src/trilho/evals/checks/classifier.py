"""A check backed by a fitted offline embedding classifier (see ``trilho.evals.judges.offline``): e.g. an
input rail that blocks unsafe requests, trained on labelled prompts. Runs off the event loop (~10-30 ms
per text on CPU), so give it a timeout and a fail mode in the policy."""

from __future__ import annotations

from trilho.errors import EvalError
from trilho.evals.checks.base import Check, CheckContext, CheckResult, Finding, register


@register
class ClassifierCheck(Check):
    """Fails when the classifier's probability of any ``fail_labels`` reaches ``min_proba``. Options:
    ``model_dir`` and ``model`` (a classifier saved with ``OfflineClassifier.save``), ``fail_labels``,
    ``min_proba`` (default 0.5). On inputs it scores the text alone; on outputs, (user input, text)."""

    name = "classifier"
    default_applies_to = "input"
    inline = False

    def __init__(self, model_dir: str, model: str, fail_labels: list[str], min_proba: float = 0.5) -> None:
        super().__init__(model_dir=model_dir, model=model, fail_labels=fail_labels, min_proba=min_proba)
        from trilho.evals.judges.offline import OfflineClassifier

        self.clf = OfflineClassifier.load(model_dir, model)
        unknown = sorted(set(fail_labels) - set(self.clf.labels))
        if not fail_labels or unknown:
            raise EvalError(
                f"fail_labels must be some of {self.clf.labels}, got {fail_labels}",
                field="fail_labels",
                value=fail_labels,
            )
        self.fail_idx = [self.clf.labels.index(x) for x in fail_labels]
        self.min_proba = min_proba
        self._emb = None

    def run(self, text: str, ctx: CheckContext) -> CheckResult:
        """Classify ``text`` (with the user input as the question when checking an output)."""
        from trilho.evals.judges.embed import Embedder

        if self._emb is None:
            self._emb = Embedder.load()
        question, response = (text, "") if ctx.input is None else (ctx.input, text)
        proba = self.clf.predict(self._emb, [question], [response])[0]
        p = float(sum(proba[i] for i in self.fail_idx))
        found = [Finding(self.clf.labels[int(proba.argmax())], score=p)] if p >= self.min_proba else []
        return self.result(found, score=p)
