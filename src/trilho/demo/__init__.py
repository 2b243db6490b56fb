"""The end-to-end demo: the whole trilho story on embedded defaults, act by act (``trilho demo``)."""

from trilho.demo.runner import ActResult, DemoContext, run_demo

__all__ = ["ActResult", "DemoContext", "run_demo"]
