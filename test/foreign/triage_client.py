#!/usr/bin/env python3
"""A foreign TriageService client, written from the .proto alone (Debian's python3-grpcio and grpc tools).

Usage: triage_client.py <proto_root> <address> <token> <study_uid>
Generates stubs into a temp dir, submits the study (the gateway pulls it from the PACS), watches events until the
study's result or failure arrives, then gets the study and prints one JSON line with what it saw.
"""
import importlib
import json
import sys
import tempfile

import grpc
from grpc_tools import protoc


def main() -> int:
    proto_root, address, token, study_uid = sys.argv[1:5]
    out = tempfile.mkdtemp()
    rc = protoc.main(["protoc", f"-I{proto_root}", f"--python_out={out}", f"--grpc_python_out={out}", "lungtriage/triage/v1/triage.proto"])
    if rc != 0:
        print(json.dumps({"error": f"protoc failed: {rc}"}))
        return 1
    sys.path.insert(0, out)
    pb = importlib.import_module("lungtriage.triage.v1.triage_pb2")
    rpc = importlib.import_module("lungtriage.triage.v1.triage_pb2_grpc")
    channel = grpc.insecure_channel(address)
    stub = rpc.TriageServiceStub(channel)
    md = [("authorization", f"Bearer {token}")] if token else []

    seen = {}
    try:
        stub.GetStudy(pb.GetStudyRequest(study_instance_uid=study_uid), metadata=[("authorization", "Bearer wrong")], timeout=10)
    except grpc.RpcError as e:
        seen["wrong_token"] = e.code().name

    sub = stub.SubmitStudy(pb.SubmitStudyRequest(study_instance_uid=study_uid), metadata=md, timeout=120)
    seen["submitted"] = {"job_id": sub.job_id, "instances": sub.instances_expected, "state": sub.state}
    events = []
    for ev in stub.WatchEvents(pb.WatchEventsRequest(after_event_id=0), metadata=md, timeout=600):
        events.append({"kind": ev.kind, "study": ev.study_instance_uid, "priority": pb.Priority.Name(ev.priority), "resume": ev.resume_after_id})
        if ev.study_instance_uid == study_uid and ev.kind in ("result.ready", "study.failed"):
            break
    seen["events"] = events
    st = stub.GetStudy(pb.GetStudyRequest(study_instance_uid=study_uid), metadata=md, timeout=10)
    seen["study"] = {
        "state": st.state,
        "priority": pb.Priority.Name(st.priority),
        "label": st.assessment.label,
        "decision": st.assessment.decision,
        "results": len(st.result_sop_instance_uids),
    }
    try:
        stub.GetStudy(pb.GetStudyRequest(study_instance_uid="1.2.bad"), metadata=md, timeout=10)
    except grpc.RpcError as e:
        seen["bad_uid"] = e.code().name
    seen["verify"] = stub.VerifyAudit(pb.VerifyAuditRequest(), metadata=md, timeout=60).ok
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
