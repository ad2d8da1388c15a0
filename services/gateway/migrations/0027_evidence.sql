-- Evidence (`hubctl evidence`): what the hub sent and what it accepted, byte for byte, with the
-- signatures that vouch for it, so that a measure's file can be verified offline.

-- Every instruction exactly as the relay published it, with the gateway's signature over it
-- (NULL when the gateway signs nothing), kept when its outbox row goes.
CREATE TABLE instruction_evidence (
    instruction_id uuid PRIMARY KEY,
    measure_id     uuid NOT NULL,
    routing_key    text NOT NULL,
    payload        bytea NOT NULL,
    signature      text,
    published_at   timestamptz NOT NULL
);
CREATE INDEX instruction_evidence_by_measure ON instruction_evidence (measure_id);

-- Every accepted report's body as received, with the adapter's key id and signature (the seal
-- of its agency's system is inside the body).
ALTER TABLE report_receipts
    ADD COLUMN body bytea,
    ADD COLUMN key_id text,
    ADD COLUMN signature text;

-- Which measures each accepted report changes (a notice carries no instruction id).
CREATE TABLE report_measures (
    measure_id uuid NOT NULL,
    report_id  uuid NOT NULL,
    PRIMARY KEY (measure_id, report_id)
);
