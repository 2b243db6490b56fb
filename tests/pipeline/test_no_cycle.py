"""ct triggers the pipeline; the pipeline never imports ct (the data reader they share is trilho.frames)."""

from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[2] / "src" / "trilho" / "pipeline"


def test_the_pipeline_does_not_import_ct():
    for module in PIPELINE.glob("*.py"):
        text = module.read_text(encoding="utf-8")
        assert "trilho.ct" not in text and "from trilho import ct" not in text, module.name
