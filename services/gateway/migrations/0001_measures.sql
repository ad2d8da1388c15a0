-- Every measure a court has ordered, as the hub knows it. One row per measure; the row moves
-- forward through the state machine and never back.
CREATE TABLE measures (
    id                  uuid PRIMARY KEY,
    court_code          text NOT NULL,
    idempotency_key     text NOT NULL,
    -- The canonical encoded request, to tell a resubmission from the reuse of a key.
    request             bytea NOT NULL,
    case_number         text NOT NULL,
    kind                text NOT NULL,
    agency_kind         text NOT NULL,
    agency_code         text NOT NULL,
    -- Instructions with the same asset key reach the agency in the order they were accepted.
    asset_key           text NOT NULL,
    asset_display       text NOT NULL,
    target_measure_id   uuid REFERENCES measures (id),
    requested_fen       bigint NOT NULL DEFAULT 0 CHECK (requested_fen >= 0),
    state               text NOT NULL,
    held_fen            bigint NOT NULL DEFAULT 0 CHECK (held_fen >= 0),
    waiting_position    integer NOT NULL DEFAULT 0,
    registration_number text NOT NULL DEFAULT '',
    reason_code         integer NOT NULL DEFAULT 0,
    reason_message      text NOT NULL DEFAULT '',
    -- The highest agency revision applied; older or repeated reports are ignored.
    agency_revision     bigint NOT NULL DEFAULT 0,
    -- Increases with every change; watch streams use it to skip what a client has seen.
    version             bigint NOT NULL DEFAULT 1,
    instruction_id      uuid NOT NULL UNIQUE,
    deadline            timestamptz NOT NULL,
    submitted_at        timestamptz NOT NULL,
    effective_at        timestamptz,
    expires_at          timestamptz,
    updated_at          timestamptz NOT NULL,
    UNIQUE (court_code, idempotency_key)
);

CREATE INDEX measures_by_case ON measures (court_code, case_number, id);
CREATE INDEX measures_by_target ON measures (target_measure_id) WHERE target_measure_id IS NOT NULL;

-- Instructions recorded with their measure and not yet confirmed by the broker.
CREATE TABLE outbox (
    id             bigserial PRIMARY KEY,
    measure_id     uuid NOT NULL REFERENCES measures (id),
    instruction_id uuid NOT NULL,
    routing_key    text NOT NULL,
    court_code     text NOT NULL,
    asset_key      text NOT NULL,
    deadline       timestamptz NOT NULL,
    payload        bytea NOT NULL,
    created_at     timestamptz NOT NULL
);

-- The audit log: one entry per change of a measure, with the measure as it stood after it.
-- Append-only; watch streams are fed from it.
CREATE TABLE measure_events (
    id          bigserial PRIMARY KEY,
    measure_id  uuid NOT NULL REFERENCES measures (id),
    court_code  text NOT NULL,
    case_number text NOT NULL,
    version     bigint NOT NULL,
    kind        integer NOT NULL,
    state       text NOT NULL,
    message     text NOT NULL,
    snapshot    bytea NOT NULL,
    at          timestamptz NOT NULL
);

CREATE INDEX measure_events_by_measure ON measure_events (measure_id, id);

CREATE FUNCTION refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;

CREATE TRIGGER measure_events_append_only
    BEFORE UPDATE OR DELETE ON measure_events
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();
