"""Regenerate trilho's OIP V2 gRPC modules from src/trilho/serving/proto/open_inference_grpc.proto (dev time;
the output is committed, so installing and testing trilho never needs grpcio-tools).

    python -m venv /tmp/gen && /tmp/gen/bin/pip install 'grpcio-tools<1.80' 'protobuf==6.33.6'
    /tmp/gen/bin/python scripts/gen_oip_grpc.py

grpcio-tools 1.78 is the last line whose protoc emits protobuf-6 gencode (the lock pins protobuf 6.33, the
bound tritonclient[grpc] sets). Two edits follow generation: the messages go into a private descriptor pool
(the protocol's ``inference.*`` names would clash in the default pool with any other OIP stubs loaded in the
same process, such as tritonclient's), and the service module imports the messages by package path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / "src" / "trilho" / "serving" / "proto"
NAME = "open_inference_grpc"


def main() -> int:
    """Run protoc, then apply the two edits; exit non-zero when protoc fails or an edit finds nothing."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{FOLDER}",
            f"--python_out={FOLDER}",
            f"--pyi_out={FOLDER}",
            f"--grpc_python_out={FOLDER}",
            f"{NAME}.proto",
        ],
        check=True,
        cwd=FOLDER,
    )
    edits = {
        f"{NAME}_pb2.py": (
            "_descriptor_pool.Default().AddSerializedFile(",
            "_descriptor_pool.DescriptorPool().AddSerializedFile(",
        ),
        f"{NAME}_pb2_grpc.py": (f"import {NAME}_pb2 as", f"from trilho.serving.proto import {NAME}_pb2 as"),
    }
    for file, (old, new) in edits.items():
        path = FOLDER / file
        text = path.read_text()
        if text.count(old) != 1:
            print(f"{file}: expected one {old!r}", file=sys.stderr)
            return 1
        path.write_text(text.replace(old, new))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
