"""Project templates (copier) shipped as package data: ``tabular``, ``recsys`` and ``llm``.

from trilho.templates import init_project, update_project
init_project("churn", template="tabular", dest="churn")     # render + git init + first commit
update_project("churn")                                      # pull template fixes (three-way merge)
"""

from trilho.templates.render import TEMPLATES, InitResult, init_project, materialise, update_project

__all__ = ["TEMPLATES", "InitResult", "init_project", "materialise", "update_project"]
