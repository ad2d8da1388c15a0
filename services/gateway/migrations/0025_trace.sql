-- One trace through every hop. Each measure keeps the W3C trace id (32 hex digits) it was
-- given at Submit (the court's own `traceparent`, or a new one); measures recorded before have
-- none.
ALTER TABLE measures ADD COLUMN trace_id text CHECK (trace_id ~ '^[0-9a-f]{32}$');

-- What an accepted report on an instruction says of the hops at the agency: when the adapter
-- took the delivery (`AgencyReport.received_at`) and when the agency's system answered
-- (`answered_at`), both in the signed body, and the trace id of its `traceparent` header (not
-- signed; for finding log lines only). `report_receipts.received_at` stays when the gateway
-- accepted the report.
ALTER TABLE report_receipts
    ADD COLUMN instruction_id uuid,
    ADD COLUMN delivered_at timestamptz,
    ADD COLUMN answered_at timestamptz,
    ADD COLUMN trace_id text;

-- `Ops.Trace` finds a measure's reports by its instruction.
CREATE INDEX report_receipts_instruction ON report_receipts (instruction_id)
    WHERE instruction_id IS NOT NULL;
