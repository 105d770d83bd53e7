"""Report a case to wangge and follow it with WatchCases.

Stubs are generated from proto/ with grpcio-tools when the script starts
(nothing generated is kept in the repository):

    python3 -m pip install -r examples/python/requirements.txt
    python3 examples/python/report_and_watch.py --server 127.0.0.1:50051

It reports a 垃圾堆放 event in unit M1 with an idempotency key, acts 立案 on
the case, and prints every change of that case the server streams, until
it has seen both. Exit status 0 when it did; the server's errors are
printed with their gRPC code and the offending field.
"""

import argparse
import json
import pathlib
import sys
import tempfile
import uuid

from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parents[2]


def generate_stubs(out: pathlib.Path) -> None:
    """Compiles proto/wangge/v1/*.proto into Python modules under `out`."""
    protos = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto/wangge/v1").glob("*.proto"))
    include = str(pathlib.Path(protoc.__file__).parent / "_proto")
    code = protoc.main(
        ["grpc_tools.protoc", f"-I{ROOT / 'proto'}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *protos]
    )
    if code != 0:
        raise SystemExit(f"protoc failed with status {code}")
    sys.path.insert(0, str(out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051", help="host:port of `wangge serve`")
    parser.add_argument("--unit", default="M1", help="a registered unit (grid)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as gen:
        generate_stubs(pathlib.Path(gen))
        import grpc
        from wangge.v1 import case_pb2, case_pb2_grpc

        seen = []
        with grpc.insecure_channel(args.server) as channel:
            cases = case_pb2_grpc.CaseServiceStub(channel)
            event = {"类别": "垃圾堆放", "人数": 1, "风险": 1}
            try:
                reported = cases.Report(
                    case_pb2.ReportRequest(
                        workflow="事件处置",
                        unit=args.unit,
                        data_json=json.dumps(event, ensure_ascii=False),
                        idempotency_key=f"python-{uuid.uuid4()}",
                        actor="python-example",
                    ),
                    timeout=10,
                )
                case = reported.case
                # `class` is a Python keyword: read the field by name.
                print(f"reported case {case.id}: state {case.state}, level {case.level}, class {getattr(case, 'class')}")
                # Follow from the report's own change: nothing is missed.
                stream = cases.WatchCases(
                    case_pb2.WatchCasesRequest(from_sequence=case.feed_sequence), timeout=30
                )
                cases.Act(case_pb2.ActRequest(id=case.id, action="立案", actor="python-example"), timeout=10)
                for change in stream:
                    if change.event.case_id != case.id:
                        continue
                    e = change.event
                    print(f"[{change.sequence}] #{e.seq} {e.action}: {e.state_before or '·'} → {e.state_after} at {e.level_after}")
                    seen.append(e.action)
                    if len(seen) == 2:
                        stream.cancel()
                        break
            except grpc.RpcError as err:
                print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
                return 1
    return 0 if len(seen) == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
