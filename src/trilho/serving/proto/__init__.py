"""Generated OIP V2 gRPC modules (see open_inference_grpc.proto and NOTICE here; scripts/gen_oip_grpc.py)."""
