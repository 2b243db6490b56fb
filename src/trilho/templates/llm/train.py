"""'Train' the feature: bundle the code and the FAQ into build/copilot, the artifact the pipeline registers
(python flavour, entry copilot:predict)."""

import shutil
from pathlib import Path


def main() -> None:
    out = Path("build/copilot")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy("copilot.py", out / "copilot.py")
    shutil.copy("data/faq.csv", out / "faq.csv")


if __name__ == "__main__":
    main()
