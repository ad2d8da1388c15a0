-- The reference land registry's register: properties of every registry region the process
-- serves, the courts' seal-ups and pre-seizures on them (the shape shared with public security,
-- see src/holds.rs), what each instruction was answered, and notices for the hub.
--
-- Every table carries `agency_code`, the registry region (e.g. 110105): one process and one schema
-- serve several regions, and nothing of one region is visible to another's instructions.

CREATE TABLE properties (
    agency_code text NOT NULL,
    -- Real-property unit number (不动产单元号) or parcel number.
    property_id text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('unit', 'parcel')),
    address     text NOT NULL,
    -- Resident identity number or unified social credit code; the buyer's while the property is
    -- only advance-registered or presold.
    holder_id   text NOT NULL,
    holder_name text NOT NULL,
    -- registered: title registered to the holder (seal-up possible);
    -- advance_registered / presold: not yet registered to the holder (pre-seizure possible).
    status      text NOT NULL CHECK (status IN ('registered', 'advance_registered', 'presold')),
    recorded_at timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (agency_code, property_id)
);

CREATE INDEX properties_by_holder ON properties (agency_code, holder_id);

CREATE TABLE holds (
    agency_code         text NOT NULL,
    measure_id          uuid PRIMARY KEY,
    instruction_id      uuid NOT NULL,
    -- Order of receipt: waiting seal-ups rank by it (查扣冻规定 art. 26).
    seq                 bigint NOT NULL UNIQUE,
    -- The property sealed up.
    asset_id            text NOT NULL,
    court_code          text NOT NULL,
    case_number         text NOT NULL,
    -- Whom the order named (identity number or credit code, and name): a pre-seizure converts
    -- only when title is registered to this subject.
    subject_id          text NOT NULL,
    subject_name        text NOT NULL,
    kind                text NOT NULL CHECK (kind = 'seal_up'),
    -- Seal-ups exclude one another (民诉法 art. 106); the column exists because the shape is shared
    -- with public security, whose exit restrictions do not.
    exclusive           boolean NOT NULL CHECK (exclusive),
    -- A pre-seizure (预查封) until title is registered to the subject.
    pre_seizure         boolean NOT NULL DEFAULT false,
    state               text NOT NULL CHECK (state IN ('effective', 'waiting', 'released', 'lapsed')),
    waiting_position    integer NOT NULL DEFAULT 0,
    period_months       integer NOT NULL,
    period_days         integer NOT NULL,
    registration_number text NOT NULL,
    -- Numbers every change reported to the hub.
    revision            bigint NOT NULL,
    received_at         timestamptz NOT NULL,
    effective_at        timestamptz,
    expires_at          timestamptz,
    ended_at            timestamptz,
    UNIQUE (agency_code, instruction_id),
    FOREIGN KEY (agency_code, asset_id) REFERENCES properties (agency_code, property_id)
);

CREATE SEQUENCE hold_seq;
CREATE INDEX holds_by_asset ON holds (agency_code, asset_id, seq);
CREATE INDEX holds_in_force_by_expiry ON holds (expires_at) WHERE state = 'effective';
-- The law itself (民诉法 art. 106): one seal-up in force per property; the rest wait.
CREATE UNIQUE INDEX one_exclusive_hold_in_force ON holds (agency_code, asset_id)
    WHERE state = 'effective' AND exclusive;

CREATE TABLE executions (
    agency_code    text NOT NULL,
    instruction_id uuid NOT NULL,
    measure_id     uuid NOT NULL,
    action         text NOT NULL,
    -- The encoded ExecuteResponse, returned as is to a repeated instruction.
    response       bytea NOT NULL,
    executed_at    timestamptz NOT NULL,
    PRIMARY KEY (agency_code, instruction_id)
);

-- Notices for the hub, deleted once the adapter's inbox has taken them (see src/notices.rs).
CREATE TABLE notices (
    id         uuid PRIMARY KEY,
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL,
    -- Set when the inbox refused the notice for good (not an outage): kept for an operator,
    -- no longer sent.
    failed_at  timestamptz,
    failure    text
);
