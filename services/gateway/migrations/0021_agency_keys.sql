-- The agencies' public signing keys. An adapter signs every report with one (header
-- `x-hub-key-id`), an agency system seals every answer with one (`Seal.key_id`); the gateway
-- applies a report only if its key is registered here for the reporting agency and valid at the
-- moment the report arrives. Rotation: add the new key, then retire the old one at the end of
-- an overlap window (`valid_until`), during which both verify.
CREATE TABLE agency_keys (
    agency_kind text NOT NULL,
    agency_code text NOT NULL,
    key_id      text NOT NULL,
    -- Ed25519, 32 bytes.
    public_key  bytea NOT NULL CHECK (length(public_key) = 32),
    valid_from  timestamptz NOT NULL,
    -- Exclusive; NULL while the key is in use.
    valid_until timestamptz,
    added_at    timestamptz NOT NULL,
    PRIMARY KEY (agency_kind, agency_code, key_id),
    CHECK (valid_until IS NULL OR valid_until >= valid_from)
);

-- Every report the gateway accepted, by its id: a report id received again is either the
-- broker redelivering it (harmless, applied changes nothing) or a replay, which is dead-lettered.
CREATE TABLE report_receipts (
    report_id   uuid PRIMARY KEY,
    agency_kind text NOT NULL,
    agency_code text NOT NULL,
    -- SHA-256 of the message body as received.
    digest      bytea NOT NULL,
    -- The report's signed `sent_at`: a later one under the same id is the adapter forwarding
    -- an agency's notice again, not a copy of what was received.
    sent_at     timestamptz,
    received_at timestamptz NOT NULL
);
