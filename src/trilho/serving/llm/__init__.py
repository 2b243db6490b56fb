"""The gateway's LLM routes: OpenAI-compatible chat completions over ``llm`` versions (trilho.registry.llm).

``upstream`` is the edge client (httpx, timeouts, retries under a budget), ``proxy`` the routes (routing,
rails, streaming), ``metrics`` the ``trilho_llm_*`` series. The rails themselves are ``trilho.evals``'s."""
