"""A small client of the Kubernetes CRI API (runtime.v1) for the tests: what
a kubelet would send containerd's CRI plugin, without a kubelet.

The messages are cri/runtime.proto's (the part of the API the tests use,
with the API's field numbers). protoc compiles it into a directory the
caller gives (a session's temporary one: nothing generated is kept in the
tree) and the RPCs are called by name through grpc's generic unary_unary,
so no gRPC code generation is needed: Debian's python3-grpcio,
python3-protobuf and protobuf-compiler are all it takes.
"""
import importlib.util
import shutil
import subprocess
from pathlib import Path

PROTO = Path(__file__).resolve().parent / "cri" / "runtime.proto"

_pb = None


def compile_proto(out_dir):
    """runtime_pb2, compiled from PROTO into out_dir and imported (once per
    process: the generated module registers its messages in protobuf's
    global pool, which takes each file only once)."""
    global _pb
    if _pb is not None:
        return _pb
    protoc = shutil.which("protoc")
    if not protoc:
        raise RuntimeError("protoc is missing (Debian package protobuf-compiler)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([protoc, f"-I{PROTO.parent}", f"--python_out={out_dir}", str(PROTO)],
                   check=True, capture_output=True, text=True)
    spec = importlib.util.spec_from_file_location("runtime_pb2", out_dir / "runtime_pb2.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    _pb = mod
    return mod


class Client:
    """Calls the CRI's RuntimeService and ImageService on a unix socket.

    rt(method, **fields) / img(method, **fields) build the request
    <method>Request from keyword arguments (nested messages as dicts, with
    the .proto's field names) and return the <method>Response; a failed RPC
    raises grpc.RpcError (.code(), .details()). timeout is a hang guard for
    each call, not a time limit anything is judged by."""

    def __init__(self, pb, socket_path, timeout):
        import grpc

        self.pb = pb
        self.grpc = grpc
        self.timeout = timeout
        self.channel = grpc.insecure_channel(f"unix://{socket_path}")

    def close(self):
        self.channel.close()

    def _call(self, service, method, fields, timeout):
        from google.protobuf import json_format

        req = json_format.ParseDict(fields, getattr(self.pb, method + "Request")(),
                                    ignore_unknown_fields=False)
        resp = getattr(self.pb, method + "Response")
        fn = self.channel.unary_unary(f"/runtime.v1.{service}/{method}",
                                      request_serializer=type(req).SerializeToString,
                                      response_deserializer=resp.FromString)
        return fn(req, timeout=timeout or self.timeout)

    def rt(self, method, timeout=None, **fields):
        return self._call("RuntimeService", method, fields, timeout)

    def img(self, method, timeout=None, **fields):
        return self._call("ImageService", method, fields, timeout)

    def error(self, method, **fields):
        """The grpc.RpcError the call raised, or None if it succeeded."""
        try:
            self.rt(method, **fields)
        except self.grpc.RpcError as e:
            return e
        return None
