"""The pipeline every model walks: validate data → train → evaluate → golden vs champion → eval gate (LLM) →
register with gate records → start the rollout plan. Stages skip when their inputs' hashes are unchanged.

    from trilho.pipeline import run_pipeline
    result = run_pipeline("my-project")                  # raises the failing stage's error (exit 1 / 2)
    result.version, result.to_dict()
"""

from trilho.pipeline.project import Project, find_project, load_project
from trilho.pipeline.runner import PipelineResult, StageResult, run_pipeline
from trilho.pipeline.stages import CI_STAGES, DEPLOY_STAGES, STAGES, StageFailed

__all__ = [
    "CI_STAGES",
    "DEPLOY_STAGES",
    "STAGES",
    "PipelineResult",
    "Project",
    "StageFailed",
    "StageResult",
    "find_project",
    "load_project",
    "run_pipeline",
]
