"""Online evaluation inside the serving gateway: for each configured model, the policy's deterministic checks
run on every response before it is sent (block → the policy's fallback answer, redact → the redacted text,
flag → counted), a stratified sample goes to the judge off the request path, and per-version windows are
flushed to the store, where the rollout analysis reads them (``trilho.evals.online_store``).

Configured by a YAML file (``trilho serve --evals evals.yaml``)::

    flush_interval_s: 5                 # windows written to the store this often
    models:
      copilot:                          # a served model name
        policy: policy.yaml             # relative to this file, or "default"
        input_field: prompt             # record field holding the user's text (default: see INPUT_FIELDS)
        output_field: completion        # output field holding the model's text (default: see OUTPUT_FIELDS)
        inputs: true                    # also run the policy's input checks on the request
        fail: open                      # the hook failed: open (send as is) | closed (send the fallback)
        judge:                          # optional: LLM-as-judge on a sample, off the request path
          base_url: http://127.0.0.1:9000/v1
          model: trilho-refusal-minilm
          rubric: {kind: pass_fail, criteria: "Pass when the answer is helpful and safe."}
          sample_rate: 0.05             # default inclusion probability
          stratum_field: tier           # optional record field; its values are the strata
          rates: {enterprise: 0.5}      # per-stratum inclusion probabilities
          spend_cap_usd: 5.0            # stop sampling once judging would cost more
          queue: {size: 1000}           # or {redis: "redis://127.0.0.1:6379/0", stream: "trilho:evals:judge"}

The gateway calls :meth:`GatewayEvals.apply` once per answer (nothing at all for gateways without a config),
runs :meth:`GatewayEvals.loops` as background tasks and :meth:`GatewayEvals.close` on shutdown. ``apply``
never raises: a failure of the hook is counted and fails open or closed as configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trilho.errors import EvalError
from trilho.evals.online import OnlineEvaluator, OnlineVerdict
from trilho.evals.policy import Action, Policy
from trilho.evals.queues import InProcessQueue, JudgeQueue, RedisStreamQueue
from trilho.evals.sampling import StratifiedSampler
from trilho.obs import get_logger

log = get_logger("trilho.evals.online")

INPUT_FIELDS = ("messages", "prompt", "input", "question", "query", "text")
OUTPUT_FIELDS = ("text", "output", "completion", "answer", "content", "response")
BLOCK_REASON = "policy_block"  # Answer.fallback_reason when a check blocked an answer
ERROR_REASON = "policy_error"  # ... when the checks failed and the hook fails closed

_MODEL_KEYS = {"policy", "input_field", "output_field", "inputs", "fail", "judge"}
_JUDGE_KEYS = {
    "base_url", "model", "rubric", "api_key", "sample_rate", "rates", "stratum_field", "spend_cap_usd",
    "cost_per_judgment_usd", "queue", "price_in", "price_out", "max_concurrency", "max_retries", "timeout_s",
}  # fmt: skip


def _field(record: Any, field: str | None, candidates: Sequence[str], what: str) -> str:
    """The key of ``record`` that holds the text (``field`` when configured, else the first candidate)."""
    if not isinstance(record, Mapping):
        raise EvalError(f"the {what} is a {type(record).__name__}, not an object", field=f"{what}_field")
    key = field if field is not None else next((k for k in candidates if k in record), None)
    if key is None or key not in record:
        raise EvalError(
            f"the {what} has no field {key!r}"
            if key
            else f"the {what} has none of the fields {list(candidates)}",
            fix=f"set {what}_field in the evals config",
            field=f"{what}_field",
            value=sorted(map(str, record)),
        )
    return key


def _as_text(value: Any) -> str:
    if isinstance(value, list):  # chat messages: the last user message
        for m in reversed(value):
            if isinstance(m, Mapping) and m.get("role", "user") == "user":
                return str(m.get("content") or "")
        return ""
    return "" if value is None else str(value)


@dataclass
class ModelEvals:
    """Online evaluation of one served model."""

    model: str
    evaluator: OnlineEvaluator
    input_field: str | None = None
    output_field: str | None = None
    inputs: bool = True
    stratum_field: str | None = None
    judge_client: Any = None
    # a network queue (Redis) is written from one thread of its own, never from the event loop
    submitter: ThreadPoolExecutor | None = None
    declared: Mapping[str, Any] | None = None  # the deployment's ``evals.online`` it was built from, if any
    stop: asyncio.Event = field(default_factory=asyncio.Event)  # set: its judge worker ends

    async def apply(self, answer: Any, records: Sequence[Mapping[str, Any]], request_id: str) -> None:
        """Check every output of ``answer`` and enforce the verdicts on it (a new outputs list; the dicts the
        cache and the shadow comparison hold are never changed)."""
        ev, version = self.evaluator, answer.version
        n = len(answer.outputs)
        verdicts: list[OnlineVerdict | None] = [None] * n
        keys: list[str | None] = [None] * n
        requests: list[dict[str, Any] | None] = [None] * n
        for i, out in enumerate(answer.outputs):
            rec = records[i] if i < len(records) else {}
            try:
                keys[i] = _field(out, self.output_field, OUTPUT_FIELDS, "output")
            except EvalError as exc:  # counted, and failed open or closed like any check failure
                verdicts[i] = ev.failed({"output": ""}, exc, model=self.model, version=version, seen=False)
                continue
            # no user text found: the input checks see "", the output is still checked
            key = (
                self.input_field
                if self.input_field is not None
                else next((k for k in INPUT_FIELDS if k in rec), None)
            )
            requests[i] = {"input": _as_text(rec.get(key)) if key is not None else ""}
        todo = [i for i in range(n) if verdicts[i] is None]
        checked = await asyncio.gather(
            *(
                ev.check_response(
                    requests[i],
                    {"output": _as_text(answer.outputs[i][keys[i]])},
                    model=self.model,
                    version=version,
                    inputs=self.inputs,
                )
                for i in todo
            )
        )
        for i, v in zip(todo, checked, strict=True):
            verdicts[i] = v
        outputs = list(answer.outputs)
        reason = None
        for i, v in enumerate(verdicts):
            assert v is not None
            if v.action is Action.BLOCK:
                reason = reason or (ERROR_REASON if v.failed == "closed" else BLOCK_REASON)
            if v.action in (Action.BLOCK, Action.REDACT):
                outputs[i] = self._with_text(outputs[i], keys[i], v.response["output"])
            if requests[i] is not None and ev.judge is not None:
                rec = records[i] if i < len(records) else {}
                value = rec.get(self.stratum_field) if self.stratum_field else None
                submit = functools.partial(
                    ev.submit_for_judging,
                    requests[i],
                    v.response,
                    model=self.model,
                    version=version,
                    stratum=None if value is None else str(value),
                    key=f"{request_id or uuid.uuid4().hex}:{i}",
                )
                if self.submitter is None:
                    submit()
                else:
                    self.submitter.submit(submit)
        answer.outputs = outputs
        if reason is not None and answer.fallback_reason is None:
            answer.fallback_reason, answer.fallback_source = reason, "policy"

    def _with_text(self, out: Any, key: str | None, text: str) -> dict[str, Any]:
        """``out`` with its text replaced; an output whose text field is unknown is replaced whole (an
        unchecked text must never go out next to the fallback)."""
        if key is not None and isinstance(out, Mapping):
            return {**out, key: text}
        return {self.output_field or OUTPUT_FIELDS[0]: text}

    def fail(self, answer: Any, exc: BaseException) -> None:
        """The hook itself broke on ``answer``: count each output; fail closed replaces them all."""
        ev = self.evaluator
        outputs = []
        for out in answer.outputs:
            v = ev.failed({"output": ""}, exc, model=self.model, version=answer.version, seen=False)
            if v.action is not Action.BLOCK:
                outputs.append(out)
                continue
            try:
                key: str | None = _field(out, self.output_field, OUTPUT_FIELDS, "output")
            except EvalError:
                key = None
            outputs.append(self._with_text(out, key, ev.policy.fallback))
        answer.outputs = outputs
        if ev.fail_closed and answer.fallback_reason is None:
            answer.fallback_reason, answer.fallback_source = ERROR_REASON, "policy"


class GatewayEvals:
    """Online evaluation for the gateway: one :class:`ModelEvals` per configured model."""

    def __init__(self, models: Mapping[str, ModelEvals], *, flush_interval_s: float = 5.0) -> None:
        if flush_interval_s <= 0:
            raise EvalError("flush_interval_s must be positive", field="flush_interval_s")
        self.models = dict(models)
        self.flush_interval_s = float(flush_interval_s)
        self._configured = dict(models)  # the --evals file's models (a deployment's declaration wins)
        self._running = False  # loops() ran: judge workers of models declared later start at once
        self._tasks: set[asyncio.Task] = set()
        self._wanted: dict[str, dict[str, Any]] = {}  # the declarations of the latest routing table
        self._building: dict[str, dict[str, Any]] = {}  # declarations being built (model → doc)

    # --- the request path ----------------------------------------------------------------------------------
    async def apply(self, answer: Any, records: Sequence[Mapping[str, Any]], request_id: str = "") -> None:
        """Check and enforce on one gateway ``Answer`` (changed in place); never raises. Answers of models
        without a config and the deployment's static fallback answers are left alone."""
        me = self.models.get(answer.model)
        if me is None or answer.fallback_source == "static":
            return
        try:
            await me.apply(answer, records, request_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let the hook crash a request
            me.fail(answer, exc)

    # --- off the request path ------------------------------------------------------------------------------
    def loops(self, store: Any) -> list[Coroutine[Any, Any, None]]:
        """Background coroutines: a judge worker per judged model; the window flush when there is a store."""
        self._running = True
        out = [self._judge_loop(me) for me in self.models.values() if me.evaluator.judge is not None]
        if store is not None:
            out.append(self._flush_loop(store))
        return out

    async def _judge_loop(self, me: ModelEvals) -> None:
        while not me.stop.is_set():
            try:
                await me.evaluator.run_worker(me.stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # e.g. Redis went away: keep the worker alive, try again
                log.warning("online judge worker failed; restarting", model=me.model, error=repr(exc))
                await asyncio.sleep(1.0)

    async def _flush_loop(self, store: Any) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush(store)

    async def flush(self, store: Any) -> int:
        """Write each model's changed per-version windows; returns the rows written (failures are logged and
        retried at the next flush: the evaluator only forgets what was committed)."""
        written = 0
        for me in self.models.values():
            try:
                written += await asyncio.to_thread(me.evaluator.flush, store)
            except Exception as exc:
                log.warning("flushing online eval windows failed", model=me.model, error=repr(exc)[:300])
        return written

    async def close(self, store: Any, *, drain_s: float = 2.0) -> None:
        """On shutdown: judge what is still queued (bounded by ``drain_s``), write the last windows, release
        the judge clients and check threads."""
        for me in self.models.values():
            if me.declared is not None:
                me.stop.set()  # the judge workers started by follow() end
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=drain_s)
        for me in self.models.values():
            if me.evaluator.judge is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(me.evaluator.drain(), drain_s)
        if store is not None:
            await self.flush(store)
        for me in self.models.values():
            if me.submitter is not None:
                await asyncio.to_thread(me.submitter.shutdown, wait=True)
            if me.judge_client is not None:
                with contextlib.suppress(Exception):
                    await me.judge_client.aclose()
            me.evaluator.policy.close()

    def follow(self, declared: Mapping[str, Mapping[str, Any]], store: Any = None) -> None:
        """Make the online evaluation declared on deployments (model → its ``evals.online``) take effect: a
        new or changed declaration is built and replaces what evaluated the model (a declaration wins over
        the ``--evals`` file's entry), a removed one gives the model back to the file's entry (or to none) at
        once. Building (a policy's detectors can take seconds to load) runs in a worker thread, never on the
        event loop: until it is done the model keeps what evaluated it before, as a model keeps its previous
        versions until the new ones are warm. A declaration this host cannot build (e.g. an unset environment
        variable) is logged and leaves the model without online evaluation. Called on the event loop."""
        self._wanted = {name: dict(doc) for name, doc in declared.items()}
        for name in [n for n, me in self.models.items() if me.declared is not None and n not in declared]:
            self._replace(name, self._configured.get(name), store)
        for name, doc in self._wanted.items():
            current = self.models.get(name)
            if (current is not None and current.declared == doc) or self._building.get(name) == doc:
                continue
            self._building[name] = doc
            self._spawn(self._build(name, doc, store))

    async def _build(self, name: str, doc: dict[str, Any], store: Any) -> None:
        """Build a declared model's evaluation off the loop; it takes effect if it is still the one wanted."""
        try:
            me: ModelEvals | None = await asyncio.to_thread(_model_evals, name, doc, None)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            log.error("online evaluation declared on the deployment cannot be built", model=name, error=error)
            me = None
        if self._building.get(name) == doc:
            del self._building[name]
        if self._wanted.get(name) != doc:  # declared otherwise (or not at all) meanwhile
            if me is not None:
                await self._retire(me, None)
            return
        if me is not None:
            me.declared = doc
        self._replace(name, me, store)

    async def settled(self) -> None:
        """Wait until every declared model's evaluation is built and in effect (tests, start-up)."""
        while self._building:
            await asyncio.sleep(0.01)

    def _replace(self, name: str, me: ModelEvals | None, store: Any) -> None:
        """``me`` evaluates ``name`` from now on (None: nothing does); a declared predecessor is retired (the
        file's entry is kept: its judge worker runs on, idle, and serves it again when it comes back)."""
        old = self.models.pop(name, None)
        configured = self._configured.get(name)
        if me is not None:
            self.models[name] = me
            if self._running and me.evaluator.judge is not None and me is not configured:
                self._spawn(self._judge_loop(me))
        if old is not None and old is not configured:
            old.stop.set()
            self._spawn(self._retire(old, store))
        log.info(
            "online evaluation follows the deployment",
            model=name,
            declared=me is not None and me is not configured,
        )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retire(self, me: ModelEvals, store: Any) -> None:
        """A model's replaced evaluation: its last counts written, its threads and clients released."""
        if store is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(me.evaluator.flush, store)
        if me.submitter is not None:
            me.submitter.shutdown(wait=False)
        if me.judge_client is not None:
            with contextlib.suppress(Exception):
                await me.judge_client.aclose()
        me.evaluator.policy.close()

    def stats(self) -> dict[str, Any]:
        """Per model: the evaluator's coverage, violations, sampling, drops and judge estimates."""
        return {name: me.evaluator.stats() for name, me in self.models.items()}

    # --- configuration -------------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> GatewayEvals:
        """Load an evals config YAML (paths inside are relative to it)."""
        import yaml

        p = Path(path)
        if not p.is_file():
            raise EvalError(
                f"evals config {str(p)!r} does not exist", fix="pass a YAML file", field="evals", value=str(p)
            )
        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise EvalError(f"evals config {p.name} is not valid YAML: {exc}", field="evals") from exc
        return cls.from_dict(doc, base_dir=p.parent)

    @classmethod
    def from_dict(cls, doc: Any, *, base_dir: Path | None = None) -> GatewayEvals:
        """Build from a mapping; every problem is an ``EvalError`` naming the field."""
        if not isinstance(doc, Mapping) or not isinstance(doc.get("models"), Mapping) or not doc["models"]:
            raise EvalError(
                "an evals config needs a non-empty 'models' mapping (model name → settings)", field="models"
            )
        unknown = set(doc) - {"models", "flush_interval_s"}
        if unknown:
            raise EvalError(f"evals config has unknown key(s) {sorted(unknown)}", field="evals")
        models = {str(name): _model_evals(str(name), spec, base_dir) for name, spec in doc["models"].items()}
        return cls(models, flush_interval_s=_number(doc.get("flush_interval_s", 5.0), "flush_interval_s"))


def _number(value: Any, where: str, *, lo: float = 0.0, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= lo or (hi and value > hi):
        rng = f"({lo}, {hi}]" if hi else f"> {lo}"
        raise EvalError(f"{where} must be a number {rng}, got {value!r}", field=where, value=value)
    return float(value)


def _model_evals(name: str, spec: Any, base_dir: Path | None) -> ModelEvals:
    where = f"models.{name}"
    if not isinstance(spec, Mapping) or "policy" not in spec:
        raise EvalError(
            f"{where} needs a 'policy' (a policy YAML file or 'default')", field=f"{where}.policy"
        )
    unknown = set(spec) - _MODEL_KEYS
    if unknown:
        raise EvalError(f"{where} has unknown key(s) {sorted(unknown)}", field=where, value=sorted(unknown))
    if isinstance(spec["policy"], Mapping):  # inlined (a deployment file's evals.online)
        policy = Policy.from_dict(spec["policy"], source=f"{where}.policy")
    else:
        ppath = str(spec["policy"])
        if ppath != "default" and base_dir is not None and not Path(ppath).is_absolute():
            ppath = str(base_dir / ppath)
        policy = Policy.load(ppath)
    fail = spec.get("fail", "open")
    if fail not in ("open", "closed"):
        raise EvalError(f"{where}.fail must be 'open' or 'closed', got {fail!r}", field=f"{where}.fail")
    judge, client, sampler, queue, cap, cost, stratum_field = None, None, None, None, None, 0.0, None
    if spec.get("judge") is not None:
        judge, client, sampler, queue, cap, cost, stratum_field = _judge(spec["judge"], f"{where}.judge")
    evaluator = OnlineEvaluator(
        policy,
        judge=judge,
        sampler=sampler,
        queue=queue,
        fail_mode=fail,
        spend_cap_usd=cap,
        cost_per_judgment_usd=cost,
    )
    return ModelEvals(
        name,
        evaluator,
        spec.get("input_field"),
        spec.get("output_field"),
        bool(spec.get("inputs", True)),
        stratum_field,
        client,
        ThreadPoolExecutor(1, thread_name_prefix="trilho-evals-queue")
        if isinstance(queue, RedisStreamQueue)
        else None,
    )


def _judge(j: Any, where: str):
    from trilho.evals.judges import Judge, JudgeClient, Rubric

    if not isinstance(j, Mapping):
        raise EvalError(f"{where} must be a mapping", field=where)
    unknown = set(j) - _JUDGE_KEYS
    if unknown:
        raise EvalError(f"{where} has unknown key(s) {sorted(unknown)}", field=where, value=sorted(unknown))
    for key in ("base_url", "model", "rubric"):
        if key not in j:
            raise EvalError(f"{where} needs {key!r}", field=f"{where}.{key}")
    rubric = Rubric.from_dict({"name": "online", **j["rubric"]})
    if rubric.kind not in ("pass_fail", "scale"):
        raise EvalError(
            f"{where}.rubric.kind must be pass_fail or scale for online judging (one response, a number), "
            f"got {rubric.kind!r}",
            field=f"{where}.rubric.kind",
            value=rubric.kind,
        )
    base_url = os.path.expandvars(str(j["base_url"]))
    if "$" in base_url:
        raise EvalError(f"{where}.base_url has an unset environment variable", field=f"{where}.base_url")
    client = JudgeClient(
        base_url,
        api_key=os.path.expandvars(str(j.get("api_key", "not-needed"))),
        max_concurrency=int(j.get("max_concurrency", 4)),
        max_retries=int(j.get("max_retries", 4)),
        timeout_s=_number(j.get("timeout_s", 30.0), f"{where}.timeout_s"),
        price_in=float(j.get("price_in", 0.0)),
        price_out=float(j.get("price_out", 0.0)),
    )
    judge = Judge(client, rubric, str(j["model"]))
    rates = j.get("rates") or {}
    if not isinstance(rates, Mapping):
        raise EvalError(f"{where}.rates must map stratum → rate", field=f"{where}.rates")
    sampler = StratifiedSampler(
        _number(j.get("sample_rate", 0.05), f"{where}.sample_rate", hi=1.0),
        {str(k): _number(v, f"{where}.rates.{k}", hi=1.0) for k, v in rates.items()},
    )
    cap = j.get("spend_cap_usd")
    cap = None if cap is None else _number(cap, f"{where}.spend_cap_usd", lo=-1e-12)
    cost = float(j.get("cost_per_judgment_usd", 0.0))
    return (
        judge,
        client,
        sampler,
        _queue(j.get("queue") or {}, f"{where}.queue"),
        cap,
        cost,
        j.get("stratum_field"),
    )


def _queue(q: Any, where: str) -> JudgeQueue:
    if not isinstance(q, Mapping) or set(q) - {"size", "redis", "stream", "consumer"}:
        raise EvalError(f"{where} must be {{size}} or {{redis, stream, consumer}}", field=where)
    size = int(_number(q.get("size", 1000), f"{where}.size"))
    if q.get("redis"):
        return RedisStreamQueue(
            str(q["redis"]),
            stream=str(q.get("stream", "trilho:evals:judge")),
            consumer=str(q.get("consumer") or f"gw-{os.getpid()}"),
            maxlen=size,
        )
    return InProcessQueue(size)


def check_model_spec(name: str, spec: Mapping[str, Any]) -> None:
    """Raise the ``EvalError`` (naming the field) that building ``spec`` — one model's settings, policy
    inlined — would raise; what it built is released (no network is touched)."""
    if spec.get("policy") == "default":  # the built-in policy is valid; its detectors take seconds to load
        spec = {**spec, "policy": {"checks": [{"check": "banned_terms", "options": {"terms": ["-"]}}]}}
    me = _model_evals(name, spec, None)
    me.evaluator.policy.close()
    if me.submitter is not None:
        me.submitter.shutdown(wait=False)
