"""JUnit XML for CI systems: one ``<testcase>`` per golden case, failures with the fields that differed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from trilho.golden.runner import RunResult


def to_junit_xml(result: RunResult, *, seconds: float = 0.0) -> str:
    """Render a run as a JUnit XML document."""
    suites = ET.Element("testsuites")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=result.suite,
        tests=str(len(result.results)),
        failures=str(len(result.failed)),
        errors="0",
        time=f"{seconds:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("model", result.model),
        ("suite_hash", result.suite_hash),
        ("contract_hash", result.contract_hash),
    ):
        ET.SubElement(props, "property", name=key, value=value)
    for r in result.results:
        case = ET.SubElement(suite, "testcase", classname=f"golden.{result.suite}", name=r.case_id, time="0")
        if not r.passed:
            reasons = r.failures
            failure = ET.SubElement(
                case, "failure", message=reasons[0] if reasons else "failed", type="GoldenFailure"
            )
            failure.text = "\n".join(reasons)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
