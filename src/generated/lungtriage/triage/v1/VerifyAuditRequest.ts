// Original file: proto/lungtriage/triage/v1/triage.proto


export interface VerifyAuditRequest {
}

export interface VerifyAuditRequest__Output {
}
